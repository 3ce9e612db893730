"""The broker's hot path compiled with mypyc, used only while it matches the sources.

    python -m local_broker.native_build [--force]   # compile (80 s); ./dev up and ./dev test do
    python -m local_broker.native_build status      # which code the broker would run, and why

The modules in `COMPILED` are type-checked Python; mypyc turns them into one C extension that
runs the same code with less interpreter work (docs/benchmarks.md: about a fifth less CPU per
event on the broker's event loop). The build goes to `<sys.prefix>/shoal-native/`, beside the
interpreter it was compiled for, with the sha256 of every source of the package: compiled code
checks the types that the modules it calls declared when it was built, so an edit to any of
them, compiled or not, calls for a new build. `local_broker/__init__.py` and
`local_broker/http/__init__.py` put the build first on their package's `__path__` only when
every recorded hash matches the source as it is now, so no edit ever runs beside stale
compiled code: until the next build the broker runs the sources, and says so when it starts.
`SHOAL_NATIVE=0` runs the sources regardless.

The compiled modules are all or nothing: mypyc calls across them natively, so one compiled
module next to the source of another would meet a class of the same name that is not the same
class. Modules whose objects cross the writer process's pipe as pickles (`logwrites`,
`frames`, `logerrors`) stay Python: pickle cannot rebuild mypyc's native classes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PACKAGE_DIR: Final = Path(__file__).resolve().parent
BUILD_DIR: Final = Path(sys.prefix) / "shoal-native"
MANIFEST: Final = "sources.json"
GROUP: Final = "shoal_native"  # the shared library: shoal_native__mypyc.<abi>.so
DISABLE_VARIABLE: Final = "SHOAL_NATIVE"

# Paths under local_broker/: the HTTP server and client, the ingress's handler, the log's loop
# side and delivery. Modules that read event attributes or manifests by their Python type stay
# out: mypyc narrows `int | bool` to `int` and so turns True into 1 (tests/local_broker/
# test_native.py keeps isinstance tests on int and bool out of the compiled modules).
COMPILED: Final = (
    "arrival.py",
    "backoff.py",
    "deliver.py",
    "dispatch.py",
    "http/client.py",
    "http/client_connection.py",
    "http/client_request.py",
    "http/message.py",
    "http/server.py",
    "http/server_connection.py",
    "http/server_parser.py",
    "http/server_types.py",
    "ingress.py",
    "log.py",
    "logtail.py",
    "metrics.py",
    "routes.py",
    "runtime.py",
    "writerprocess.py",
)


@dataclass(frozen=True, slots=True)
class NativeStatus:
    """Whether the compiled modules are in use; `reason` says why not, and what to do."""

    build: Path | None
    reason: str

    @property
    def active(self) -> bool:
        return self.build is not None

    def describe(self) -> str:
        """What the broker prints when it starts."""
        return self.reason if self.active else f"Python sources ({self.reason})"


def source_hashes(package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """The sha256 of every module of the package (about 2 ms), by path within it."""
    return {
        path.relative_to(package_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(package_dir.rglob("*.py"))
    }


def interpreter_tag() -> str:
    """The interpreter a build is for: its extension suffix names the ABI."""
    return f"{sys.implementation.cache_tag}-{sys.platform}"


def check(build_dir: Path = BUILD_DIR, package_dir: Path = PACKAGE_DIR) -> NativeStatus:
    """Whether the build in `build_dir` may be used for the sources in `package_dir`."""
    rebuild = "run `python -m local_broker.native_build` (./dev up and ./dev test do)"
    if os.environ.get(DISABLE_VARIABLE) == "0":
        return NativeStatus(None, f"{DISABLE_VARIABLE}=0")
    try:
        recorded = json.loads((build_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return NativeStatus(None, f"no compiled build in {build_dir}; {rebuild}")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("sources"), dict):
        return NativeStatus(None, f"{build_dir / MANIFEST} is not a build's record; {rebuild}")
    if recorded.get("tag") != interpreter_tag():
        return NativeStatus(None, f"the build in {build_dir} is for another Python; {rebuild}")
    try:
        current = source_hashes(package_dir)
    except OSError as error:
        return NativeStatus(None, f"cannot read the sources: {error}")
    built = recorded["sources"]
    if set(built) != set(current):
        return NativeStatus(None, f"modules were added or removed since the build; {rebuild}")
    changed = sorted(name for name, digest in current.items() if built.get(name) != digest)
    if changed:
        listed = ", ".join(changed[:3]) + (" and more" if len(changed) > 3 else "")
        return NativeStatus(None, f"{listed} changed since the build; {rebuild}")
    return NativeStatus(build_dir, f"compiled with mypyc ({build_dir})")


_status: NativeStatus | None = None


def status() -> NativeStatus:
    """check() once per process: every package must make the same choice."""
    global _status
    if _status is None:
        _status = check()
    return _status


def use_native(package: str, path: list[str]) -> None:
    """Put the build's copy of `package` ahead of its sources, when the build may be used."""
    build = status().build
    if build is None:
        return
    if str(build) not in sys.path:
        sys.path.append(str(build))  # the shared library is a top-level module
    path.insert(0, str(build.joinpath(*package.split("."))))
