"""`shoal cesql`: evaluate an expression against an event file, or run TCK files."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from shoal.cli import cesql
from shoal.cli.main import build_parser, main
from tests.conformance import require_cesql_tck

Shoal = Callable[[Sequence[str]], int]


def _main_is_importable() -> bool:
    """Whether `shoal.cli.main` can build its parser (every subcommand module importable)."""
    try:
        build_parser()
    except ImportError:
        return False
    return True


@pytest.fixture
def shoal() -> Shoal:
    """Run `shoal ARGV...` in-process: through `shoal.cli.main.main` when all subcommands import,
    else through a parser holding only `cesql` (other subcommands may be mid-development)."""
    if _main_is_importable():
        return main

    parser = argparse.ArgumentParser(prog="shoal")
    cesql.register(parser.add_subparsers(dest="command", required=True))

    def run(argv: Sequence[str]) -> int:
        args = parser.parse_args(argv)
        status: int = args.run(args)
        return status

    return run


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    event = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/shoal/scheduler",
        "type": "dev.shoal.replica.scheduled",
        "node": "n1",
        "attempt": 2,
        "data": {"replica": "web-1"},
    }
    path.write_text(json.dumps(event), encoding="utf-8")
    return path


def test_evaluates_against_an_event_file(
    shoal: Shoal, event_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = shoal(["cesql", "type LIKE 'dev.shoal.%' AND node = 'n1'", "--event", str(event_file)])
    assert (status, capsys.readouterr().out) == (0, "true\n")


@pytest.mark.parametrize(
    ("expression", "printed"),
    [("attempt * 2", "4\n"), ("UPPER(node)", "'N1'\n"), ("CONCAT(node, '\\'s')", "'n1\\'s'\n")],
)
def test_prints_values_as_cesql_literals(
    shoal: Shoal,
    event_file: Path,
    capsys: pytest.CaptureFixture[str],
    expression: str,
    printed: str,
) -> None:
    assert shoal(["cesql", expression, "--event", str(event_file)]) == 0
    assert capsys.readouterr().out == printed


def test_without_an_event_there_are_no_attributes(
    shoal: Shoal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shoal(["cesql", "EXISTS id"]) == 0
    assert capsys.readouterr().out == "false\n"


def test_an_evaluation_error_is_printed_and_exits_1(
    shoal: Shoal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shoal(["cesql", "node = 'n1'"]) == 1
    assert capsys.readouterr().out == (
        "false\nerror (missingAttribute): the event has no attribute 'node'\n"
    )


def test_a_parse_error_shows_the_position_and_exits_2(
    shoal: Shoal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shoal(["cesql", "type LIKE 5"]) == 2
    assert capsys.readouterr().err == (
        "parse error at column 11: expected a string literal pattern after LIKE, found '5'\n"
        "  type LIKE 5\n"
        "            ^\n"
    )


def test_a_parse_error_on_a_later_line_points_into_that_line(
    shoal: Shoal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shoal(["cesql", "a = 1 AND\n\tb ! 2"]) == 2
    assert capsys.readouterr().err == (
        "parse error at line 2, column 4: unexpected character '!' (did you mean '!='?)\n"
        "   b ! 2\n"
        "     ^\n"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [("[1]", "a JSON-format CloudEvent is a JSON object"), ('{"x": 1.5}', "is a JSON float")],
)
def test_an_unusable_event_file_exits_2(
    shoal: Shoal, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, problem: str
) -> None:
    path = tmp_path / "event.json"
    path.write_text(content, encoding="utf-8")
    assert shoal(["cesql", "TRUE", "--event", str(path)]) == 2
    assert problem in capsys.readouterr().err


def test_a_missing_event_file_exits_2(
    shoal: Shoal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shoal(["cesql", "TRUE", "--event", str(tmp_path / "absent.json")]) == 2
    assert "cannot use" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["cesql"], ["cesql", "TRUE", "--tck", "x.yaml"], ["cesql", "--tck", "x.yaml", "--event", "e"]],
)
def test_expression_and_tck_are_exclusive(
    shoal: Shoal, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert shoal(argv) == 2
    assert "shoal cesql:" in capsys.readouterr().err


def test_tck_reports_each_failing_case_and_a_summary(
    shoal: Shoal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: Mine\ntests:\n"
        "  - {name: right, expression: 1 + 1, result: 2}\n"
        "  - {name: wrong, expression: 1 + 1, result: 3}\n",
        encoding="utf-8",
    )
    assert shoal(["cesql", "--tck", str(path)]) == 1
    assert capsys.readouterr().out == (
        "FAIL mine: wrong [1 + 1]: expected value 3, got 2\n1 passed, 1 failed\n"
    )


def test_tck_with_an_unreadable_file_exits_2(
    shoal: Shoal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("- not a tck file\n", encoding="utf-8")
    assert shoal(["cesql", "--tck", str(path)]) == 2
    assert "expected a mapping with a 'tests' list" in capsys.readouterr().err


def test_the_official_tck_passes(shoal: Shoal, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(path) for path in sorted(require_cesql_tck().glob("*.yaml"))]
    assert shoal(["cesql", "--tck", *files]) == 0
    assert re.fullmatch(r"[1-9][0-9]* passed, 0 failed\n", capsys.readouterr().out)


def test_console_script(event_file: Path) -> None:
    if not _main_is_importable():
        pytest.skip("shoal.cli.main cannot import every subcommand module yet")
    script = Path(sys.executable).parent / "shoal"
    completed = subprocess.run(
        [str(script), "cesql", "node = 'n1' AND attempt > 1", "--event", str(event_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, "true\n", "")
