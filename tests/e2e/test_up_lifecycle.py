"""`shoal up` starting in order and dying cleanly: the broker delivers only once the functions
listen, and a `shoal up` killed outright (SIGKILL, no chance to clean up) takes its function
processes with it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from .test_up import READY, alive, descendants, shoal_up

pytestmark = pytest.mark.slow


def test_no_delivery_fails_while_the_functions_start(tmp_path: Path) -> None:
    with shoal_up(tmp_path) as (process, output, _port):
        output.wait_for(READY)
        output.wait_for("ready; Ctrl-C stops everything")
        time.sleep(2.0)  # PingSource ticks keep coming; none may fail either
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        output.wait_for("stopping")
    lines = output.drain()
    assert any("ready; Ctrl-C stops everything" in line for line in lines)
    failed = [line for line in lines if "delivery failed" in line]
    assert failed == []


def test_a_killed_shoal_up_leaves_no_function_running(tmp_path: Path) -> None:
    with shoal_up(tmp_path) as (process, output, _port):
        output.wait_for("ready; Ctrl-C stops everything")
        seen = descendants(process.pid)
        assert len(seen) >= 2  # functions-framework's master and its worker

        os.kill(process.pid, signal.SIGKILL)  # the process alone: its children get no signal
        process.wait(timeout=10)

        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in seen if alive(pid)] == []
