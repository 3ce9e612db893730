"""The driver interface: how the agent runs replicas, whatever runs them (sim, exec, docker).

Semantics every driver keeps (tests/shoal/agent/test_driver_contract.py checks them):

- `start(spec)` is idempotent by replica name. Starting a replica that runs (or is starting)
  starts nothing new and returns its status, so concurrent starts give one replica. Starting a
  replica that exited replaces it with a fresh one (a restart in place). It returns once the
  replica runs; `DriverError` when it cannot run at all (the agent reports an exit).
- `stop(name)` stops the replica (gracefully, then forcibly) and forgets it; it returns when the
  replica no longer runs. Stopping an unknown or already exited replica is not an error.
- `list()` gives every replica the driver knows: running ones (`exit_code` None) and exited ones
  not yet stopped, with their exit code, like `docker ps -a`. A driver whose replicas outlive
  the agent (exec, docker) also lists what a previous agent process left running.
- `exits()` yields each replica's exit once, as it happens, for replicas this driver instance
  started or found running. It never yields the exit of a replica after `stop(name)` was called
  for it: a stopped replica is reported as stopped, not as exited. Replicas that had exited
  before the driver was created appear in `list()` with their code instead. One consumer.
- `usage()` measures the running replicas: cpu in millicores, memory in MiB.
- `close()` releases the driver's own resources. Replicas of a driver whose replicas outlive
  the agent keep running, to be found again by the next agent process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from shoal.agent.spec import ReplicaSpec

__all__ = ["CommandResult", "Driver", "ExitFeed", "ReplicaExit", "ReplicaStatus", "Usage"]


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    spec: ReplicaSpec
    started_at: float
    """Unix time the replica started running."""
    exit_code: int | None = None
    """None while it runs; the exit status (128 + N for signal N) once it exited."""


@dataclass(frozen=True, slots=True)
class ReplicaExit:
    name: str
    exit_code: int
    reason: str


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command run in a replica's context (an exec probe) came to."""

    exit_code: int | None
    """Its exit status; None when it had not finished within the timeout."""
    output: str = ""
    """The end of what it printed, stdout and stderr together (at most OUTPUT_KEPT characters)."""


OUTPUT_KEPT = 1024


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_millis: float
    memory_mib: float


class Driver(Protocol):
    @property
    def kind(self) -> str:
        """The `--driver` name: `sim`, `exec`, `docker`."""
        ...

    async def start(self, spec: ReplicaSpec) -> ReplicaStatus: ...

    async def stop(self, name: str) -> None: ...

    async def list(self) -> Sequence[ReplicaStatus]: ...

    def exits(self) -> AsyncIterator[ReplicaExit]: ...

    async def usage(self) -> Mapping[str, Usage]: ...

    async def output(self, name: str, lines: int) -> str | None:
        """The last `lines` lines the replica printed, stdout and stderr together (exec: as
        written to one file; docker: as the engine's log orders its two streams); None for a
        replica this driver does not have."""
        ...

    def follow_output(self, name: str, lines: int) -> AsyncGenerator[str, None] | None:
        """`output`, then what the replica prints next, piece by piece, until it exits or is
        stopped; None for a replica this driver does not have."""
        ...

    async def run_in(self, name: str, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run `argv` in the running replica `name`'s context (its environment and folder, or
        inside its container), for an exec probe; stop waiting after `timeout` seconds.
        DriverError when the replica does not run here."""
        ...

    async def close(self) -> None: ...


class ExitFeed:
    """Exits waiting to be taken, oldest first, each taken once; `withdraw` drops a pending one,
    which is how a driver keeps `stop()` from letting an exit through after it."""

    def __init__(self) -> None:
        self._pending: dict[str, ReplicaExit] = {}
        self._arrived = asyncio.Event()

    def publish(self, exit_: ReplicaExit) -> None:
        self._pending.pop(exit_.name, None)
        self._pending[exit_.name] = exit_
        self._arrived.set()

    def withdraw(self, name: str) -> None:
        self._pending.pop(name, None)

    async def __aiter__(self) -> AsyncIterator[ReplicaExit]:
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            name = next(iter(self._pending))
            yield self._pending.pop(name)
