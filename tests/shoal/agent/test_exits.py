"""The words of an exit, the same for every driver, and the end of a replica's output."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.agent.exits import OUTPUT_CHARS, exit_reason, last_output


@pytest.mark.parametrize(
    ("code", "oom", "error", "reason"),
    [
        (0, False, "", "exited with code 0"),
        (3, False, "", "exited with code 3"),
        (137, False, "", "killed by signal 9 (SIGKILL)"),
        (143, False, "", "killed by signal 15 (SIGTERM)"),
        (200, False, "", "exited with code 200"),
        (137, True, "", "killed for exceeding its memory limit (exit code 137)"),
        (127, False, "no such file", "exited with code 127: no such file"),
        (129, False, "", "killed by signal 1 (SIGHUP)"),
        (128 + 99, False, "", "exited with code 227"),  # no such signal
    ],
)
def test_exit_reasons(code: int, oom: bool, error: str, reason: str) -> None:
    assert exit_reason(code, oom_killed=oom, error=error) == reason


def test_an_exit_s_reason_ends_with_the_last_lines_of_output() -> None:
    reason = exit_reason(1, output="starting\n\nTraceback:\n  boom  \n")
    long = exit_reason(1, output="x" * 1000 + "END")

    assert reason == "exited with code 1; last output: starting | Traceback: | boom"
    assert long.endswith("x" * (OUTPUT_CHARS - 3) + "END")


def test_the_last_lines_of_an_output_file(tmp_path: Path) -> None:
    short = tmp_path / "short.log"
    short.write_text("one\ntwo\n")
    long = tmp_path / "long.log"
    long.write_text("".join(f"line {n} " + "x" * 50 + "\n" for n in range(10_000)))

    assert last_output(short) == "one\ntwo"
    assert last_output(short, lines=1) == "two"
    assert last_output(long).splitlines()[0].startswith("line 9995 ")
    assert len(last_output(long).splitlines()) == 5
    assert last_output(tmp_path / "missing.log") == ""


def test_a_cut_first_line_is_dropped(tmp_path: Path) -> None:
    one_long_line = tmp_path / "one.log"
    one_long_line.write_text("y" * 10_000 + "\nlast\n")

    assert last_output(one_long_line) == "last"
