"""The compiled hot path (local_broker/native.py): used only when it matches the sources."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import local_broker.dispatch
import local_broker.http.server_parser
from local_broker import native, native_build

SOURCES = Path(native.__file__).resolve().parent
ROOT = SOURCES.parent


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the package's sources."""
    copy = tmp_path / "local_broker"
    shutil.copytree(SOURCES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def record(build: Path, sources: dict[str, str], tag: str | None = None) -> Path:
    build.mkdir(parents=True, exist_ok=True)
    manifest = {"tag": tag or native.interpreter_tag(), "sources": sources}
    (build / native.MANIFEST).write_text(json.dumps(manifest))
    return build


@pytest.fixture(autouse=True)
def native_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.DISABLE_VARIABLE, raising=False)


def test_a_build_of_exactly_these_sources_is_used(package: Path, tmp_path: Path) -> None:
    build = record(tmp_path / "build", native.source_hashes(package))
    status = native.check(build, package)
    assert status.active
    assert status.build == build
    assert "compiled with mypyc" in status.describe()


@pytest.mark.parametrize("edited", ["dispatch.py", "event.py"])
def test_an_edited_source_runs_as_python_until_the_next_build(
    package: Path, tmp_path: Path, edited: str
) -> None:
    """Compiled or not: compiled code checks the types the modules it calls declared."""
    build = record(tmp_path / "build", native.source_hashes(package))
    with (package / edited).open("a") as source:
        source.write("\n# edited\n")
    status = native.check(build, package)
    assert not status.active
    assert f"{edited} changed since the build" in status.reason
    assert "local_broker.native_build" in status.reason
    assert status.describe().startswith("Python sources (")


def test_no_build_another_python_or_a_broken_record_runs_python(
    package: Path, tmp_path: Path
) -> None:
    missing = native.check(tmp_path / "nothing", package)
    assert not missing.active
    assert "no compiled build" in missing.reason
    other = record(tmp_path / "other", native.source_hashes(package), tag="cpython-27-linux")
    assert "another Python" in native.check(other, package).reason
    hashes = native.source_hashes(package)
    more = record(tmp_path / "more", {**hashes, "gone.py": "0" * 64})
    assert "added or removed since the build" in native.check(more, package).reason
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / native.MANIFEST).write_text('["not", "a", "record"]')
    assert "not a build's record" in native.check(broken, package).reason


def test_shoal_native_0_runs_python(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = record(tmp_path / "build", native.source_hashes(package))
    monkeypatch.setenv(native.DISABLE_VARIABLE, "0")
    status = native.check(build, package)
    assert not status.active
    assert status.reason == "SHOAL_NATIVE=0"


@pytest.mark.skipif(
    os.environ.get("CI") != "true" or os.environ.get(native.DISABLE_VARIABLE) == "0",
    reason="outside CI a developer may run the sources (./dev test builds, then runs these)",
)
def test_ci_runs_the_compiled_broker() -> None:
    assert native.status().active, native.status().reason
    for module in (local_broker.dispatch, local_broker.http.server_parser):
        assert module.__file__ is not None
        assert module.__file__.endswith(".so"), module.__file__


def _except_names_retyped(source: str) -> list[str]:
    """`except A as e` and `except B as e` in one function: mypyc gives `e` A's type for both,
    so the second handler raises TypeError (a bug met in server_connection.data_received)."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        types: dict[str, str] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.ExceptHandler) and node.name and node.type is not None:
                kind = ast.unparse(node.type)
                if types.setdefault(node.name, kind) != kind:
                    found.append(f"{function.name}: {node.name} (line {node.lineno})")
    return found


def test_the_retyped_except_name_check_finds_one() -> None:
    source = (
        "def f():\n    try:\n        pass\n    except KeyError as error:\n        pass\n"
        "    except ValueError as error:\n        pass\n"
    )
    assert _except_names_retyped(source) == ["f: error (line 6)"]


@pytest.mark.parametrize("name", native.COMPILED)
def test_compiled_modules_never_rebind_an_except_name_to_another_type(name: str) -> None:
    assert _except_names_retyped((SOURCES / name).read_text()) == []


def test_the_bug_injecting_tests_pass_on_the_python_sources() -> None:
    """test_dispatch_safety.py injects bugs by patching module globals, which compiled code
    does not look up: with a compiled build here they run in a process on the sources."""
    if not native.status().active:
        pytest.skip("this run is on the Python sources: the injecting tests ran in it")
    test_file = Path(__file__).with_name("test_dispatch_safety.py")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=ROOT,
        env={**os.environ, native.DISABLE_VARIABLE: "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "skipped" not in done.stdout.splitlines()[-1], done.stdout[-2000:]


_INT_OR_BOOL = {"int", "bool"}


def _int_or_bool_tests(source: str) -> list[int]:
    """Lines with isinstance(x, int) or isinstance(x, bool) (alone or in a tuple)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance"):
            continue
        kinds = node.args[1]
        names = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
        if any(ast.unparse(name) in _INT_OR_BOOL for name in names):
            lines.append(node.lineno)
    return lines


def test_the_int_or_bool_check_finds_one() -> None:
    assert _int_or_bool_tests("x = 1\nif isinstance(x, (str, bool)):\n    pass\n") == [2]


@pytest.mark.parametrize("name", native.COMPILED)
def test_compiled_modules_leave_int_and_bool_values_alone(name: str) -> None:
    """mypyc narrows `int | bool` to `int` and then holds True as 1: modules that tell the
    two apart (event attributes, manifests) must stay Python."""
    source = (SOURCES / name).read_text()
    assert _int_or_bool_tests(source) == []
    assert "AttributeValue" not in source


def test_native_build_status_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert native_build.main(["status"]) == 0
    assert capsys.readouterr().out.strip() == native.check().reason
    assert native_build.main(["--fast"]) == 2
    assert "usage: python -m local_broker.native_build" in capsys.readouterr().err
