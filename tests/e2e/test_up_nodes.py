"""`shoal up` with another driver than the run before: the earlier agent's nodes are removed,
not left Ready with nobody heartbeating them (where replicas would be placed and never run)."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from shoal.platform.ports import free_port

from .test_up import shoal_up

pytestmark = pytest.mark.slow


def node_names(api_port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/nodes", timeout=5) as response:
        return sorted(item["name"] for item in json.load(response)["items"])


def wait_for_nodes(api_port: int, expected: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        seen = node_names(api_port)
        if seen == expected:
            return
        time.sleep(0.2)
    pytest.fail(f"nodes {seen}, expected {expected}")


def run_until_nodes(tmp_path: Path, expected: list[str], *args: str) -> list[str]:
    """`shoal up *args` on the data dir of `tmp_path` until the API lists `expected`; then
    Ctrl-C. Its output."""
    api_port = free_port()
    with shoal_up(tmp_path, "--api-port", str(api_port), *args) as (process, output, _port):
        output.wait_for("ready; Ctrl-C stops everything", timeout=120)
        wait_for_nodes(api_port, expected)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    return output.drain()


def test_the_nodes_of_an_agent_this_run_does_not_start_are_removed(tmp_path: Path) -> None:
    run_until_nodes(tmp_path, ["sim-0", "sim-1"], "--driver", "sim", "--nodes", "2")

    lines = run_until_nodes(tmp_path, ["local"], "--driver", "exec")

    removed = [line for line in lines if line.startswith("removed ")]
    assert removed == ["removed  node(s) sim-0, sim-1: agent sim does not run now\n"]

    again = run_until_nodes(tmp_path, ["local"], "--driver", "exec")
    assert [line for line in again if line.startswith("removed ")] == []  # said once
