"""Compile the broker's hot path with mypyc (local_broker/native.py says what and why).

    python -m local_broker.native_build [--force]   # when the build does not match the sources
    python -m local_broker.native_build status      # which code the broker would run, and why

The sources are copied to a temporary folder and compiled there, so nothing is ever written
beside them; the result replaces `native.BUILD_DIR` only once the compiler succeeded. It needs
mypy (a dev dependency), a C compiler and the interpreter's headers.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local_broker.native import (
    BUILD_DIR,
    COMPILED,
    GROUP,
    MANIFEST,
    PACKAGE_DIR,
    check,
    interpreter_tag,
    source_hashes,
)

# Run by the interpreter in the temporary copy: mypycify generates the C, setuptools builds it.
_SETUP = """\
from setuptools import setup
from mypyc.build import mypycify

setup(
    name="shoal-native",
    ext_modules=mypycify({files!r}, opt_level="3", group_name={group!r}),
)
"""


class NativeBuildError(Exception):
    """The compiler failed; the message carries its output's end."""


def build(build_dir: Path = BUILD_DIR, package_dir: Path = PACKAGE_DIR) -> None:
    """Compile `COMPILED` from `package_dir` into `build_dir`."""
    hashes = source_hashes(package_dir)
    with tempfile.TemporaryDirectory(prefix="shoal-native-") as work:
        tree, staging = Path(work) / "tree", Path(work) / "out"
        package = package_dir.name
        shutil.copytree(package_dir, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
        files = [f"{package}/{name}" for name in COMPILED]
        (tree / "setup.py").write_text(_SETUP.format(files=files, group=GROUP))
        done = subprocess.run(
            [sys.executable, "setup.py", "--quiet", "build_ext", "--inplace"],
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise NativeBuildError(f"mypyc failed (exit {done.returncode}):\n{tail}")
        # In place: the shared library at the top, a small module beside each source.
        for library in [*tree.glob("*.so"), *(tree / package).rglob("*.so")]:
            target = staging / library.relative_to(tree)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(library, target)
        manifest = {"tag": interpreter_tag(), "sources": hashes}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _replace(staging, build_dir)


def _replace(staging: Path, build_dir: Path) -> None:
    """Swap the new build in: a process starting meanwhile sees the old one or the new one."""
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    incoming = build_dir.with_name(build_dir.name + ".new")
    outgoing = build_dir.with_name(build_dir.name + ".old")
    for leftover in (incoming, outgoing):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(staging, incoming)
    if build_dir.exists():
        build_dir.rename(outgoing)
    incoming.rename(build_dir)
    shutil.rmtree(outgoing, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["status"]:
        print(check().reason)
        return 0
    if argv and argv != ["--force"]:
        print("usage: python -m local_broker.native_build [--force | status]", file=sys.stderr)
        return 2
    with _building():  # a second ./dev started meanwhile waits, then finds the build done
        if check().active and not argv:
            print(f"the compiled build in {BUILD_DIR} matches the sources")
            return 0
        try:
            build()
        except NativeBuildError as error:
            print(f"the broker's hot path was not compiled: {error}", file=sys.stderr)
            return 1
    print(f"compiled {len(COMPILED)} modules into {BUILD_DIR}")
    return 0


@contextmanager
def _building() -> Iterator[None]:
    """One build at a time per interpreter (an exclusive flock, released even by SIGKILL)."""
    BUILD_DIR.parent.mkdir(parents=True, exist_ok=True)
    with (BUILD_DIR.parent / f".{BUILD_DIR.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
