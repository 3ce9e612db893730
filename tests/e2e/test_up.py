"""`shoal up` as a user runs it: events reach the functions, a crashed function comes back,
and SIGTERM or Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from shoal.platform.ports import free_port
from shoal.state import open_store

from .conftest import shoal_command

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"function audit: http://127\.0\.0\.1:(\d+) \(pid (\d+)\)")

pytestmark = pytest.mark.slow


class Output:
    """The lines a process prints, readable with a bounded wait."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._queue.put(line)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        pytest.fail(f"no line matching {pattern!r} within {timeout} s; got:\n{''.join(self.lines)}")

    def drain(self, quiet_seconds: float = 1.0) -> list[str]:
        """Every line so far, once the process printed nothing more for `quiet_seconds`."""
        while True:
            try:
                self.lines.append(self._queue.get(timeout=quiet_seconds))
            except queue.Empty:
                return self.lines


@contextmanager
def shoal_up(
    tmp_path: Path, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], Output, int]]:
    port = free_port()
    process = subprocess.Popen(
        shoal_command(
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(port),
            "--api-port",
            "0",
            *args,
        ),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    try:
        yield process, Output(process), port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def descendants(pid: int) -> set[int]:
    """Every process below `pid` right now (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def send(port: int, event_type: str) -> str:
    event_id = str(uuid.uuid4())
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/default/default",
        data=b'{"exit_code": 1}',
        method="POST",
        headers={
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-source": "/tests/up",
            "ce-type": event_type,
            "ce-subject": "web-1",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    return event_id


def wait_audited(data_dir: Path, event_id: str, timeout: float = 30.0) -> None:
    store = open_store(f"sqlite:///{data_dir / 'state.db'}")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with store.transaction() as tx:
                if any(entry.body["id"] == event_id for entry in tx.list("AuditEntry")):
                    return
            time.sleep(0.1)
    finally:
        store.close()
    pytest.fail(f"event {event_id} was not audited within {timeout} s")


def test_up_delivers_restarts_a_crashed_function_and_stops_everything_on_sigterm(
    tmp_path: Path,
) -> None:
    with shoal_up(tmp_path) as (process, output, port):
        first_pid = int(output.wait_for(READY).group(2))
        output.wait_for("ready; Ctrl-C stops everything")
        seen = descendants(process.pid)
        assert first_pid in seen
        wait_audited(tmp_path / "data", send(port, "dev.shoal.replica.exited"))

        os.kill(first_pid, signal.SIGKILL)
        output.wait_for(r"audit exited \(signal SIGKILL\); restarting in 0\.5 s")
        second_pid = int(output.wait_for(r"audit restarted \(pid (\d+)\)").group(1))
        assert second_pid != first_pid
        wait_audited(tmp_path / "data", send(port, "dev.shoal.replica.started"))
        seen |= descendants(process.pid)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        output.wait_for("stopping")

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in seen if alive(pid)] == []


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    with shoal_up(tmp_path) as (process, output, port):
        # Not on the CLI's default ports (8080, 8081): it says how to point the CLI here.
        output.wait_for(
            rf"cli +not on the CLI's default ports; point it here with: export SHOAL_BROKER_URL="
            rf"http://127\.0\.0\.1:{port}/default/default SHOAL_API_URL=http://127\.0\.0\.1:\d+$"
        )
        output.wait_for("ready; Ctrl-C stops everything")
        seen = descendants(process.pid)
        assert len(seen) >= 2  # functions-framework's master and its worker

        os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        assert process.wait(timeout=60) == 0

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in seen if alive(pid)] == []


def test_up_stops_saying_what_to_set_when_its_docker_agent_finds_no_engine(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    with shoal_up(tmp_path, "--driver", "docker", env=env) as (process, output, _port):
        assert process.wait(timeout=90) == 1  # not restarting the agent forever
        lines = output.drain()

    assert any(" | shoal agent: no Docker engine answers (" in line for line in lines)
    assert "agent exited (exit code 2): it cannot run as configured; not restarting\n" in lines
    assert "stopping\n" in lines  # the functions are stopped as on Ctrl-C
    assert not any("restarting in" in line for line in lines)
    assert lines[-1].startswith("shoal up: the node agent cannot run: no Docker engine answers (")
    assert lines[-1].endswith(
        "; set DOCKER_HOST (for example unix:///var/run/docker.sock, or the socket "
        "scripts/docker-engine.sh prints)\n"
    )
