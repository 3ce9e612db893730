"""The sim driver: replicas that run nowhere, for tests and scale benchmarks.

A simulated replica is a record and, at most, one timer, so one process holds thousands of nodes
and tens of thousands of replicas. It "runs" after `start_delay` seconds and until stopped, unless:

- its env asks for an exit: `SHOAL_SIM_EXIT_AFTER=SECONDS` exits it that long after it started,
  with `SHOAL_SIM_EXIT_CODE` (default 1), e.g. to try crash-loop back-off;
- `exit_probability` P > 0: each replica exits with code 137 with probability P in each second
  it runs (an exponentially distributed lifetime), drawn from a RNG seeded with `seed`.

Its cpu use is its cpu request times the utilisation set for its deployment (`set_load`, the
agent's `POST /sim/load`; 0 % until set); its memory use is its memory request. Replicas do not
outlive the process: a restarted sim agent finds nothing running, as after a machine crash.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from shoal.agent.driver import CommandResult, ExitFeed, ReplicaExit, ReplicaStatus, Usage
from shoal.agent.errors import DriverError
from shoal.agent.spec import ReplicaSpec

__all__ = ["EXIT_AFTER_ENV", "EXIT_CODE_ENV", "SimDriver", "SimSettings", "random_lifetime"]

EXIT_AFTER_ENV = "SHOAL_SIM_EXIT_AFTER"
EXIT_CODE_ENV = "SHOAL_SIM_EXIT_CODE"
RANDOM_EXIT_CODE = 137


@dataclass(frozen=True, slots=True)
class SimSettings:
    start_delay: float = 0.0
    exit_probability: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.start_delay < 0 or not 0 <= self.exit_probability <= 1:
            raise ValueError(
                "start_delay must be >= 0 and exit_probability between 0 and 1, not "
                f"{self.start_delay} and {self.exit_probability}"
            )


class _SimReplica:
    __slots__ = ("ready", "status", "timer")

    def __init__(self, status: ReplicaStatus, ready: asyncio.Future[None]) -> None:
        self.status = status
        self.ready = ready
        self.timer: asyncio.TimerHandle | None = None


class SimDriver:
    kind = "sim"

    def __init__(
        self, settings: SimSettings = SimSettings(), clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._rng = random.Random(settings.seed)
        self._replicas: dict[str, _SimReplica] = {}
        self._loads: dict[str, float] = {}
        self._feed = ExitFeed()

    def set_load(self, deployment: str, cpu_utilization: float) -> int:
        """Set the cpu utilisation (%) of the deployment's replicas; returns how many run now."""
        self._loads[deployment] = cpu_utilization
        return sum(
            1
            for replica in self._replicas.values()
            if replica.status.spec.deployment == deployment and replica.status.exit_code is None
        )

    async def start(self, spec: ReplicaSpec) -> ReplicaStatus:
        current = self._replicas.get(spec.name)
        if current is not None and current.status.exit_code is None:
            await asyncio.shield(current.ready)
            if self._replicas.get(spec.name) is not current:
                raise DriverError(f"replica {spec.name} was stopped while it started")
            return current.status
        exit_after = _exit_after(spec)
        replica = _SimReplica(
            ReplicaStatus(spec, self._clock()), asyncio.get_running_loop().create_future()
        )
        self._replicas[spec.name] = replica
        if self.settings.start_delay:
            await asyncio.sleep(self.settings.start_delay)
            if self._replicas.get(spec.name) is not replica:
                raise DriverError(f"replica {spec.name} was stopped while it started")
            replica.status = replace(replica.status, started_at=self._clock())
        replica.timer = self._exit_timer(replica, exit_after)
        replica.ready.set_result(None)
        return replica.status

    def _exit_timer(
        self, replica: _SimReplica, exit_after: tuple[float, int] | None
    ) -> asyncio.TimerHandle | None:
        exits: list[tuple[float, int, str]] = []
        if exit_after is not None:
            seconds, code = exit_after
            exits.append((seconds, code, f"{EXIT_AFTER_ENV} asked it to exit after {seconds} s"))
        if self.settings.exit_probability > 0:
            lifetime = random_lifetime(self._rng, self.settings.exit_probability)
            exits.append((lifetime, RANDOM_EXIT_CODE, "simulated random exit"))
        if not exits:
            return None
        seconds, code, reason = min(exits)
        return asyncio.get_running_loop().call_later(seconds, self._exit, replica, code, reason)

    def _exit(self, replica: _SimReplica, code: int, reason: str) -> None:
        name = replica.status.spec.name
        if self._replicas.get(name) is replica:
            replica.status = replace(replica.status, exit_code=code)
            self._feed.publish(ReplicaExit(name, code, reason))

    async def stop(self, name: str) -> None:
        replica = self._replicas.pop(name, None)
        self._feed.withdraw(name)
        if replica is not None:
            _discard(replica)

    async def list(self) -> Sequence[ReplicaStatus]:
        return [replica.status for replica in self._replicas.values() if replica.ready.done()]

    async def output(self, name: str, lines: int) -> str | None:
        """A simulated replica prints nothing."""
        return "" if name in self._replicas else None

    def follow_output(self, name: str, lines: int) -> AsyncGenerator[str, None] | None:
        return _nothing() if name in self._replicas else None

    def exits(self) -> AsyncIterator[ReplicaExit]:
        return aiter(self._feed)

    async def usage(self) -> Mapping[str, Usage]:
        usage: dict[str, Usage] = {}
        for name, replica in self._replicas.items():
            if replica.status.exit_code is None and replica.ready.done():
                requested = replica.status.spec.resources
                load = self._loads.get(replica.status.spec.deployment, 0.0)
                usage[name] = Usage(requested.cpu_millis * load / 100, requested.memory_mib)
        return usage

    async def run_in(self, name: str, argv: Sequence[str], timeout: float) -> CommandResult:
        """A simulated replica's every command succeeds (the agent does not probe sim replicas:
        they are ready as soon as they start)."""
        replica = self._replicas.get(name)
        if replica is None or replica.status.exit_code is not None:
            raise DriverError(f"replica {name} does not run here")
        return CommandResult(0)

    async def close(self) -> None:
        for replica in self._replicas.values():
            _discard(replica)
        self._replicas.clear()


def _discard(replica: _SimReplica) -> None:
    """Cancel its exit timer; a start still waiting for it then fails with DriverError."""
    if replica.timer is not None:
        replica.timer.cancel()
    if not replica.ready.done():
        replica.ready.set_result(None)


def random_lifetime(rng: random.Random, probability: float) -> float:
    """Seconds until a random exit, when the chance of one in each second is `probability`:
    exponentially distributed with rate -ln(1 - p), so that P(exit within 1 s) = p."""
    if probability >= 1:
        return 0.0
    return rng.expovariate(-math.log1p(-probability))


def _exit_after(spec: ReplicaSpec) -> tuple[float, int] | None:
    """(seconds, exit code) the spec's env asks for, or None; DriverError when malformed."""
    after = spec.env.get(EXIT_AFTER_ENV)
    if after is None:
        return None
    try:
        seconds, code = float(after), int(spec.env.get(EXIT_CODE_ENV, "1"))
    except ValueError:
        raise DriverError(
            f"{EXIT_AFTER_ENV} must be seconds and {EXIT_CODE_ENV} a whole number, not "
            f"{after!r} and {spec.env.get(EXIT_CODE_ENV)!r}"
        ) from None
    if not (seconds >= 0 and math.isfinite(seconds)) or not 0 <= code <= 255:
        raise DriverError(f"{EXIT_AFTER_ENV} must be >= 0 and {EXIT_CODE_ENV} within 0-255")
    return seconds, code


async def _nothing() -> AsyncGenerator[str, None]:
    return
    yield  # an async generator that ends at once
