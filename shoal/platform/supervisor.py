"""Supervising child processes: run each, restart it with back-off when it exits, stop all.

Each child runs in a session (and process group) of its own. A terminal's Ctrl-C therefore
reaches only the supervising process, which stops the children itself, and stopping a child
signals its whole group: gunicorn's workers go with their master, and a crashed master's
workers (still holding its port) are killed before it is restarted. A child is asked to stop
with SIGTERM and killed with SIGKILL after `stop_grace_seconds`. On Linux each child also gets
SIGTERM from the kernel when the supervisor dies, even by SIGKILL (`PR_SET_PDEATHSIG`), so a
killed `shoal up` leaves no function running on its port.

Restart delays double from `FIRST_RESTART_DELAY` up to `MAX_RESTART_DELAY`; a child that ran
for `HEALTHY_SECONDS` before exiting counts as healthy again and restarts after the first delay.
A child that exits with one of its spec's `final_exit_codes` says it cannot run as configured
(a restart would fail the same way): it is not restarted, and the supervisor's owner is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

FIRST_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
HEALTHY_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0

Report = Callable[[str], None]


def restart_delay(consecutive_failures: int) -> float:
    """Seconds to wait before restart number `consecutive_failures` (1, 2, ...) in a row."""
    return min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2.0 ** max(0, consecutive_failures - 1))


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    final_exit_codes: frozenset[int] = frozenset()
    """Exit codes after which the child is not restarted: it cannot run as configured."""


_PR_SET_PDEATHSIG = 1  # prctl(2)


def _preexec() -> Callable[[], None] | None:
    """What the child runs between fork and exec: ask for SIGTERM when this process (strictly:
    the forking thread) ends (prctl(2)), and exit when it has ended already."""
    if sys.platform != "linux":
        return None
    parent = os.getpid()

    def die_with_parent() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os._exit(1)

    return die_with_parent


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


class SupervisedProcess:
    """One child, kept running until `stop()` or until it exits with a final exit code (then
    `gave_up` is called with it). `output` receives each line it prints."""

    def __init__(
        self,
        spec: ProcessSpec,
        output: Report,
        report: Report,
        *,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
        gave_up: Callable[[int], None] = lambda _returncode: None,
    ) -> None:
        self.spec = spec
        self.restarts = 0
        self._output = output
        self._report = report
        self._gave_up = gave_up
        self._stop_grace = stop_grace_seconds
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The current process's pid (also its process group id), None between runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_running(), name=f"supervise {self.spec.name}")

    async def _keep_running(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                returncode = await self._run_once()
            except OSError as error:
                self._report(f"{self.spec.name}: cannot start {self.spec.command[0]}: {error}")
                returncode = None
            if self._stopping.is_set():
                return
            if returncode is not None and returncode in self.spec.final_exit_codes:
                self._report(
                    f"{self.spec.name} exited ({describe_exit(returncode)}): it cannot run as "
                    "configured; not restarting"
                )
                self._gave_up(returncode)
                return
            healthy = time.monotonic() - started >= HEALTHY_SECONDS
            failures = 1 if healthy else failures + 1
            delay = restart_delay(failures)
            how = "did not start" if returncode is None else f"exited ({describe_exit(returncode)})"
            self._report(f"{self.spec.name} {how}; restarting in {delay:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            self.restarts += 1

    async def _run_once(self) -> int:
        process = await asyncio.create_subprocess_exec(
            *self.spec.command,
            env=dict(self.spec.env),
            cwd=self.spec.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_preexec(),
        )
        self._process = process
        if self._stopping.is_set():  # stop() ran while the process was being started
            _signal_group(process.pid, signal.SIGTERM)
        elif self.restarts:
            self._report(f"{self.spec.name} restarted (pid {process.pid})")
        assert process.stdout is not None
        pump = asyncio.create_task(self._pump(process.stdout))
        returncode = await process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # whatever the leader left behind
        await pump
        return returncode

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self._output(line.decode("utf-8", "replace").rstrip("\n"))

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after the grace period; no restart follows."""
        self._stopping.set()
        process = self._process
        if process is not None and process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), self._stop_grace)
            except TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
        if self._task is not None:
            await self._task
