"""Keeping a folder in step with rendered files: write them, or report how it differs.

Only files that carry the generated mark are ever removed or counted as stale; anything else
in the folder (a hand-written resource) is left alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from shoal.manifests.render import GENERATED_MARK


def _generated_files(folder: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            if text.startswith(GENERATED_MARK):
                found[path.name] = text
    return found


def diff(rendered: Mapping[str, str], folder: Path) -> str:
    """A unified diff from what `folder` holds to what was rendered; empty when up to date."""
    current = _generated_files(folder)
    chunks: list[str] = []
    for name in sorted(set(current) | set(rendered)):
        old, new = current.get(name, ""), rendered.get(name, "")
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=str(folder / name) if name in current else "/dev/null",
                tofile=str(folder / name) if name in rendered else "/dev/null",
            )
        )
    return "".join(chunks)


def write(rendered: Mapping[str, str], folder: Path) -> list[str]:
    """Make `folder` hold exactly the rendered files (plus any hand-written ones); returns the
    names written or removed."""
    folder.mkdir(parents=True, exist_ok=True)
    current = _generated_files(folder)
    changed: list[str] = []
    for name in sorted(set(current) - set(rendered)):
        (folder / name).unlink()
        changed.append(name)
    for name, text in rendered.items():
        if current.get(name) != text:
            (folder / name).write_text(text, encoding="utf-8")
            changed.append(name)
    return sorted(changed)
