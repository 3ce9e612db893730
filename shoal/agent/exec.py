"""The exec driver: replicas as plain processes on this machine.

Each replica runs its command (`$PORT` and the other variables of its environment substituted;
the image is not used) through the shim (`shoal.agent.shim`) in a new session, so it has its own
process group, outlives the agent, and its exit status is recorded even when no agent watches.
Its environment is `PATH=/bin:/usr/bin`, `LANG=C.UTF-8` and the replica's own (no variable of
the agent leaks in); its working folder and its output (`output.log`) are in
`<state_dir>/<replica>/`, next to `replica.json` (its spec and process identity). Stopping sends
SIGTERM to the process group, then SIGKILL after `grace_seconds`, and removes the folder.
Cpu and memory are measured from /proc over the group; requests are not enforced as limits.

A new driver on the same state folder adopts what a previous agent left: replicas still running
(watched through a pidfd, which needs Linux 5.3) and replicas that exited meanwhile (listed with
the status the shim recorded, 137 when the shim itself was killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from shoal.agent import hostports, procfs, shim
from shoal.agent.commands import run_command
from shoal.agent.driver import CommandResult, ExitFeed, ReplicaExit, ReplicaStatus, Usage
from shoal.agent.errors import DriverError, InvalidEvent
from shoal.agent.exits import exit_reason, last_output
from shoal.agent.follow import follow_file
from shoal.agent.locks import KeyedLocks
from shoal.agent.spec import ReplicaSpec, parse_scheduled

__all__ = ["BASE_ENV", "ExecDriver"]

BASE_ENV = MappingProxyType({"PATH": os.defpath, "LANG": "C.UTF-8"})
KILLED_EXIT_CODE = 128 + signal.SIGKILL
KILL_WAIT_SECONDS = 5.0
OUTPUT_READ_LIMIT = 1 << 20  # `shoal logs` reads at most the last MiB of output.log
RECORD = "replica.json"


class _Replica:
    def __init__(
        self,
        spec: ReplicaSpec,
        pid: int,
        start_ticks: int,
        started_at: float,
        child: subprocess.Popen[bytes] | None,
    ) -> None:
        self.spec = spec
        self.pid = pid
        self.start_ticks = start_ticks
        self.started_at = started_at
        self.child = child
        """Our own child, or None when adopted from a previous agent process."""
        self.exit_code: int | None = None
        self.exited = asyncio.Event()
        self.stopping = False
        self.pidfd: int | None = None
        self.sample: tuple[float, int] | None = None

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(self.spec, self.started_at, self.exit_code)


class ExecDriver:
    kind = "exec"

    def __init__(
        self,
        state_dir: Path,
        *,
        grace_seconds: float = 10.0,
        base_env: Mapping[str, str] = BASE_ENV,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Absolute: each replica runs in its own folder, and its shim records its exit there.
        self.state_dir = state_dir.absolute()
        self.grace_seconds = grace_seconds
        self._base_env = dict(base_env)
        self._clock = clock
        self._replicas: dict[str, _Replica] = {}
        self._locks = KeyedLocks()
        self._feed = ExitFeed()

    @classmethod
    async def open(cls, state_dir: Path, *, grace_seconds: float = 10.0) -> ExecDriver:
        """A driver that adopts the replicas a previous one left in `state_dir`."""
        driver = cls(state_dir, grace_seconds=grace_seconds)
        for replica in await asyncio.to_thread(_adopt_all, state_dir):
            driver._replicas[replica.spec.name] = replica
            if replica.exit_code is None:
                driver._watch(replica)
        return driver

    async def start(self, spec: ReplicaSpec) -> ReplicaStatus:
        async with self._locks.hold(spec.name):
            current = self._replicas.get(spec.name)
            if current is not None and current.exit_code is None:
                return current.status()
            if current is not None:
                self._forget(current)
            replica = self._spawn(spec)
            self._replicas[spec.name] = replica
            self._watch(replica)
            return replica.status()

    def _spawn(self, spec: ReplicaSpec) -> _Replica:
        argv = spec.argv()
        environment = {**self._base_env, **spec.environment()}
        if not argv:
            raise DriverError("the exec driver runs the replica's command, and it has none")
        if shutil.which(argv[0], path=environment.get("PATH")) is None:
            raise DriverError(f"no program {argv[0]!r} on PATH {environment.get('PATH')}")
        hostports.require_free(spec.name, (port.port for port in spec.ports))
        folder = self.state_dir / spec.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shim_argv = [sys.executable, "-I", "-S", shim.__file__, str(folder / "exit"), "--"]
        try:
            with (folder / "output.log").open("ab") as output:
                child = subprocess.Popen(
                    [*shim_argv, *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=folder,
                    env=environment,
                    start_new_session=True,
                )
        except OSError as error:  # no process could be made (process or file limits)
            shutil.rmtree(folder, ignore_errors=True)
            raise DriverError(f"cannot start a process: {error}") from error
        stat = procfs.read_stat(child.pid)
        replica = _Replica(spec, child.pid, stat.start_ticks if stat else 0, self._clock(), child)
        record = {
            "spec": spec.to_data(),
            "pid": replica.pid,
            "start_ticks": replica.start_ticks,
            "started_at": replica.started_at,
        }
        partial = folder / f"{RECORD}.partial"
        partial.write_text(json.dumps(record), encoding="utf-8")
        os.replace(partial, folder / RECORD)
        return replica

    def _watch(self, replica: _Replica) -> None:
        try:
            replica.pidfd = os.pidfd_open(replica.pid)
        except ProcessLookupError:
            self._exited(replica)
            return
        stat = procfs.read_stat(replica.pid)
        if replica.child is None and (stat is None or stat.start_ticks != replica.start_ticks):
            self._exited(replica)  # the pid now names another process: ours is gone
            return
        asyncio.get_running_loop().add_reader(replica.pidfd, self._exited, replica)

    def _unwatch(self, replica: _Replica) -> None:
        if replica.pidfd is not None:
            asyncio.get_running_loop().remove_reader(replica.pidfd)
            os.close(replica.pidfd)
            replica.pidfd = None

    def _exited(self, replica: _Replica) -> None:
        self._unwatch(replica)
        code = replica.child.poll() if replica.child is not None else None
        if code is None:
            code = _recorded_exit(self.state_dir / replica.spec.name)
        replica.exit_code = 128 - code if code < 0 else code
        replica.exited.set()
        if not replica.stopping:
            output = last_output(self.state_dir / replica.spec.name / "output.log")
            reason = exit_reason(replica.exit_code, output=output)
            self._feed.publish(ReplicaExit(replica.spec.name, replica.exit_code, reason))

    async def stop(self, name: str) -> None:
        async with self._locks.hold(name):
            self._feed.withdraw(name)
            replica = self._replicas.get(name)
            if replica is None:
                return
            replica.stopping = True
            if replica.exit_code is None:
                _signal_group(replica, signal.SIGTERM)
                if not await _wait(replica.exited, self.grace_seconds):
                    _signal_group(replica, signal.SIGKILL)
                    await _wait(replica.exited, KILL_WAIT_SECONDS)
            self._forget(replica)

    def _forget(self, replica: _Replica) -> None:
        self._unwatch(replica)
        del self._replicas[replica.spec.name]
        shutil.rmtree(self.state_dir / replica.spec.name, ignore_errors=True)

    async def list(self) -> Sequence[ReplicaStatus]:
        return [replica.status() for replica in self._replicas.values()]

    async def output(self, name: str, lines: int) -> str | None:
        if name not in self._replicas:
            return None
        path = self.state_dir / name / "output.log"
        return await asyncio.to_thread(last_output, path, lines, OUTPUT_READ_LIMIT)

    def follow_output(self, name: str, lines: int) -> AsyncGenerator[str, None] | None:
        replica = self._replicas.get(name)
        if replica is None:
            return None

        def done() -> bool:  # exited, stopped, or started again (a new run, a new file)
            return replica.exit_code is not None or self._replicas.get(name) is not replica

        path = self.state_dir / name / "output.log"
        return follow_file(path, lines, OUTPUT_READ_LIMIT, done=done)

    def exits(self) -> AsyncIterator[ReplicaExit]:
        return aiter(self._feed)

    async def usage(self) -> Mapping[str, Usage]:
        running = [replica for replica in self._replicas.values() if replica.exit_code is None]
        groups = [replica.pid for replica in running]
        totals = await asyncio.to_thread(procfs.group_totals, groups)
        now, wall = time.monotonic(), self._clock()
        usage: dict[str, Usage] = {}
        for replica in running:
            ticks, pages = totals.get(replica.pid, (0, 0))
            since, before = replica.sample or (now - max(wall - replica.started_at, 1e-3), 0)
            replica.sample = (now, ticks)
            seconds = max(ticks - before, 0) / procfs.CLOCK_TICKS
            cpu_millis = 1000 * seconds / max(now - since, 1e-3)
            usage[replica.spec.name] = Usage(cpu_millis, pages * procfs.PAGE_SIZE / 2**20)
        return usage

    async def run_in(self, name: str, argv: Sequence[str], timeout: float) -> CommandResult:
        """`argv` (with the replica's variables substituted, as in its command) run in the
        replica's folder with the replica's environment."""
        replica = self._replicas.get(name)
        if replica is None or replica.exit_code is not None:
            raise DriverError(f"replica {name} does not run here")
        environment = {**self._base_env, **replica.spec.environment()}
        return await run_command(
            replica.spec.substituted(argv),
            env=environment,
            cwd=self.state_dir / name,
            timeout=timeout,
        )

    async def close(self) -> None:
        """Stop watching; the replicas keep running for the next driver to adopt."""
        for replica in self._replicas.values():
            self._unwatch(replica)


def _adopt_all(state_dir: Path) -> list[_Replica]:
    state_dir.mkdir(parents=True, exist_ok=True)
    adopted: list[_Replica] = []
    for folder in sorted(path for path in state_dir.iterdir() if path.is_dir()):
        replica = _adopt(folder)
        if replica is None:  # a start cut short before the process was recorded
            shutil.rmtree(folder, ignore_errors=True)
        else:
            adopted.append(replica)
    return adopted


def _adopt(folder: Path) -> _Replica | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        spec = parse_scheduled(record["spec"])
        replica = _Replica(
            spec, int(record["pid"]), int(record["start_ticks"]), float(record["started_at"]), None
        )
    except (OSError, ValueError, KeyError, TypeError, InvalidEvent):
        return None
    stat = procfs.read_stat(replica.pid)
    if stat is None or not stat.alive or stat.start_ticks != replica.start_ticks:
        replica.exit_code = _recorded_exit(folder)
        replica.exited.set()
    return replica


def _recorded_exit(folder: Path) -> int:
    """The status the shim recorded; 137 (killed) when it could not record one."""
    try:
        return int((folder / "exit").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return KILLED_EXIT_CODE


def _signal_group(replica: _Replica, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(replica.pid, signum)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True
