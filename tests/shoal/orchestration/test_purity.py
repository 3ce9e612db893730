"""DESIGN.md: pure decision logic imports no web framework, no database driver and no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shoal.orchestration

PACKAGE = Path(shoal.orchestration.__file__).parent
# Computation only: nothing here can read a clock, the environment, a file or the network.
ALLOWED = {
    "__future__", "collections", "dataclasses", "difflib", "fractions", "hashlib", "heapq",
    "json", "math", "re", "shlex", "types", "typing", "shoal",
}  # fmt: skip


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_imports_only_computation(path: Path) -> None:
    assert imported_roots(path) <= ALLOWED, imported_roots(path) - ALLOWED


def test_imports_within_shoal_stay_in_the_package() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shoal"):
                assert node.module is not None
                assert node.module.startswith("shoal.orchestration"), (path.name, node.module)
