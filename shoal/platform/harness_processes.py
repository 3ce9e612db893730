"""The harness's processes: `shoal` commands run in process groups of their own, and what they
print, kept and waited for.

A group stops as a whole (SIGTERM, then after a grace SIGKILL for whatever the leader left
behind), so the processes a command started stop with it. A thread reads each process's output
as it comes, so a wait for a line is bounded by its timeout, and a process that dies early fails
the wait at once, with what it printed.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class HarnessError(RuntimeError):
    """A process did not come up, or answered what it should not; the message says what."""


def shoal_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shoal.cli.main", *args]


class ProcessOutput:
    """Every line a process prints (stdout and stderr), kept, and waited for with a bound."""

    def __init__(self, process: subprocess.Popen[str], *, echo: bool = False) -> None:
        self.lines: list[str] = []
        self._process = process
        self._echo = echo
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._done = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if self._echo:
                print(line, end="", file=sys.stderr, flush=True)
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while not self._done and time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                self._done = True
                break
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        why = "the process ended" if self._done else f"nothing within {timeout} s"
        raise HarnessError(f"no line matching {pattern!r} ({why}); it printed:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        self.drain()
        return "\n".join(self.lines[-lines:])

    def drain(self) -> None:
        """Move what was printed so far into `lines` (without waiting)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self._done = True
                return
            self.lines.append(line)


def start_shoal(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None, *, echo: bool
) -> tuple[subprocess.Popen[str], ProcessOutput]:
    process = subprocess.Popen(
        shoal_command(*args),
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a group of its own: stopping it stops its children
    )
    return process, ProcessOutput(process, echo=echo)


def stop_group(process: subprocess.Popen[str], grace: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever the leader left behind
    process.wait()
