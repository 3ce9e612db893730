"""DESIGN.md's dependency rules, checked on every import statement (top level or not):

- `functions/` never imports `local_broker/`: a function must run on Knative, where no local
  broker exists;
- `local_broker/` never imports `functions/` or `shoal/`: it is a general Knative-compatible
  broker that could serve any CloudEvents application;
- and one of this project's own: the CLI (`shoal/cli/`) is the top layer, so nothing else under
  `shoal/` or `functions/` imports it (it may start `python -m shoal.cli.main` as a process).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = {"functions": {"local_broker"}, "local_broker": {"functions", "shoal"}}


def imported_modules(path: Path) -> set[str]:
    """The absolute module names `path` imports (`from a.b import c` counts as `a.b`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imported_roots(path: Path) -> set[str]:
    """The top-level packages `path` imports; relative imports stay in its own package."""
    return {name.split(".")[0] for name in imported_modules(path)}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(RULES))
def test_a_package_never_imports_what_its_rule_forbids(package: str) -> None:
    found = modules(package)
    assert found, f"no modules under {package}/"
    broken = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & RULES[package])
        for path in found
        if imported_roots(path) & RULES[package]
    }
    assert broken == {}


def test_the_check_sees_imports_anywhere_in_a_module(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        "import os\n"
        "from . import sibling\n"
        "def late():\n"
        "    from shoal.runtime import wire\n"
        "    import local_broker.log as log\n"
    )

    assert imported_roots(module) == {"os", "shoal", "local_broker"}


def test_only_the_cli_imports_the_cli() -> None:
    outside = [
        path
        for package in ("shoal", "functions")
        for path in modules(package)
        if ROOT / "shoal" / "cli" not in path.parents
    ]
    assert outside
    broken = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[:2] == ["shoal", "cli"]
        )
        for path in outside
        if any(name.split(".")[:2] == ["shoal", "cli"] for name in imported_modules(path))
    }
    assert broken == {}


def test_imported_modules_names_from_imports_in_full(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        "from shoal import cli\nimport shoal.cli.options\nfrom shoal.cli.up import x\n"
    )

    names = imported_modules(module)

    assert {"shoal.cli", "shoal.cli.options", "shoal.cli.up"} <= names
