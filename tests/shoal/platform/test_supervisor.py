"""The supervisor behind `shoal up`, with small real child processes."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import textwrap
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from shoal.platform.supervisor import (
    FIRST_RESTART_DELAY,
    ProcessSpec,
    SupervisedProcess,
    describe_exit,
    restart_delay,
)


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (50, 30.0)]
)
def test_restart_delays_double_up_to_a_ceiling(failures: int, delay: float) -> None:
    assert restart_delay(failures) == delay


@pytest.mark.parametrize(("code", "text"), [(3, "exit code 3"), (-9, "signal SIGKILL")])
def test_exits_are_described_by_code_or_signal(code: int, text: str) -> None:
    assert describe_exit(code) == text


def python(tmp_path: Path, name: str, code: str) -> ProcessSpec:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    return ProcessSpec(name, [sys.executable, "-u", str(script)], dict(os.environ), tmp_path)


async def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_an_exited_process_is_reported_and_restarted_until_stopped(tmp_path: Path) -> None:
    reports: list[str] = []
    output: list[str] = []
    child = SupervisedProcess(
        python(tmp_path, "flaky", "print('starting'); raise SystemExit(3)"),
        output.append,
        reports.append,
    )
    child.start()
    await wait_until(lambda: child.restarts >= 2)
    await child.stop()

    assert reports[:3] == [
        "flaky exited (exit code 3); restarting in 0.5 s",
        reports[1],
        "flaky exited (exit code 3); restarting in 1 s",
    ]
    assert reports[1].startswith("flaky restarted (pid ")
    assert output[:2] == ["starting", "starting"]
    restarts = child.restarts
    await asyncio.sleep(0.7)
    assert child.restarts == restarts  # stopped means no more restarts


async def test_a_child_exiting_with_a_final_code_is_not_restarted_and_its_owner_is_told(
    tmp_path: Path,
) -> None:
    reports: list[str] = []
    output: list[str] = []
    gave_up: list[int] = []
    spec = dataclasses.replace(
        python(tmp_path, "misconfigured", "print('no engine'); raise SystemExit(2)"),
        final_exit_codes=frozenset({2}),
    )
    child = SupervisedProcess(spec, output.append, reports.append, gave_up=gave_up.append)
    child.start()
    await wait_until(lambda: gave_up != [])
    await asyncio.sleep(FIRST_RESTART_DELAY + 0.2)  # when a restart would have come

    assert gave_up == [2]
    assert reports == [
        "misconfigured exited (exit code 2): it cannot run as configured; not restarting"
    ]
    assert (output, child.restarts, child.pid) == (["no engine"], 0, None)
    await child.stop()  # still fine to call: shoal up stops every child alike


async def test_stop_ends_the_whole_process_group_even_what_ignores_sigterm(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    child = SupervisedProcess(
        python(
            tmp_path,
            "stubborn",
            f"""
            import os, signal, subprocess, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{grandchild.pid}}")
            time.sleep(600)
            """,
        ),
        lambda _line: None,
        lambda _report: None,
        stop_grace_seconds=0.5,
    )
    child.start()
    await wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2)

    await child.stop()

    for pid in map(int, pids.read_text().split()):
        await wait_until(partial(_gone, pid), timeout=10)


def _gone(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"
