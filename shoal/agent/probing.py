"""Probing: one task per probe of each running replica whose spec has one.

Each task waits `initialDelaySeconds`, then checks the replica every `periodSeconds`
(`shoal.orchestration.probes` has the rules). A readiness probe calls `on_change(spec, ready,
reason)` each time the replica's readiness flips; the agent turns that into `replica.ready` or
`.unready`. A liveness probe calls `on_dead(spec, reason)` once the replica fails it
`failureThreshold` times in a row; the agent kills the replica and reports it exited.
Replicas run on the host's network (processes, or containers with `network_mode: host`), so
the probe goes to 127.0.0.1 and the host port the scheduler assigned.

A check is an `httpGet` (a GET of the path, redirects not followed: 200 to 399 is success, as
the kubelet counts), a `tcpSocket` (a connection that opens) or an `exec` (the command, run by
the driver in the replica's context, exits 0), bounded by `timeoutSeconds`.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp

from shoal.agent.driver import CommandResult, Driver
from shoal.agent.errors import DriverError
from shoal.agent.spec import ReplicaSpec
from shoal.orchestration.probes import Probe, Readiness

__all__ = ["Check", "ExecCheck", "Prober", "ReplicaProbes", "check_probe", "exec_verdict"]

log = logging.getLogger("shoal.agent.probing")

Check = Callable[[Probe, str, int], Awaitable[str | None]]
"""(probe, host, port) -> None on success, else why it failed."""
ExecCheck = Callable[[ReplicaSpec, Probe], Awaitable[str | None]]
"""(spec, exec probe) -> None on success, else why it failed; the agent runs it by its driver."""
OnChange = Callable[[ReplicaSpec, bool, str | None], None]
"""(spec, ready, why the last check failed) on each flip of readiness."""
OnDead = Callable[[ReplicaSpec, str], None]
"""(spec, why) once its liveness (or startup) probe failed `failure_threshold` times in a row;
`why` names the probe: "liveness probe failed: HTTP probe failed with statuscode: 500"."""
REASON_OUTPUT = 200
"""Characters of a failed exec probe's output kept in its reason."""


def exec_verdict(probe: Probe, result: CommandResult) -> str | None:
    """None when an exec probe's command exited 0, else the reason, with the end of its output."""
    if result.exit_code == 0:
        return None
    command = shlex.join(probe.command)
    printed = result.output.strip()[-REASON_OUTPUT:]
    if result.exit_code is None:
        why = printed or f"no exit within {probe.timeout_seconds}s (timeoutSeconds)"
        return f"command {command}: {why}"
    return f"command {command} exited with {result.exit_code}" + (f": {printed}" if printed else "")


async def check_probe(probe: Probe, host: str, port: int) -> str | None:
    """One check of `probe` against host:port: None when it passes, else the reason."""
    timeout = probe.timeout_seconds
    if probe.action == "tcp":
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except TimeoutError:
            return f"dial tcp {host}:{port}: no connection within {timeout}s (timeoutSeconds)"
        except OSError as error:
            return f"dial tcp {host}:{port}: {error.strerror or error}"
        writer.close()
        return None
    url = f"http://{host}:{port}{probe.path}"
    limits = aiohttp.ClientTimeout(total=timeout)
    try:
        async with (
            aiohttp.ClientSession(timeout=limits) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            status = response.status
    except TimeoutError:
        return f"GET {url}: no answer within {timeout}s (timeoutSeconds)"
    except aiohttp.ClientError as error:
        return f"GET {url}: {error}"
    if 200 <= status < 400:
        return None
    return f"HTTP probe failed with statuscode: {status}"


class Prober:
    """One task per probe of a watched replica: its readiness probe's flips go to `on_change`;
    its liveness probe's verdict "dead" goes to `on_dead`, once, and ends that probe. A startup
    probe runs first, alone: once it passes the other two start (and, without a readiness
    probe, the replica is ready); failing it goes to `on_dead` as liveness does."""

    def __init__(
        self,
        on_change: OnChange,
        *,
        on_dead: OnDead | None = None,
        check: Check = check_probe,
        exec_check: ExecCheck | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._on_change = on_change
        self._on_dead = on_dead
        self._check = check
        self._exec_check = exec_check
        self._host = host
        self._tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._verdicts: dict[str, tuple[bool, str | None]] = {}

    def watch(self, spec: ReplicaSpec, *, known: bool = True) -> None:
        """Probe `spec` from now on; no-op without a probe. A replica that just started is not
        ready until it passes; with `known=False` (one found running) its first readiness
        verdict either way is reported. A liveness probe starts from "alive"."""
        self.forget(spec.name)
        if spec.startup is not None and self._on_dead is not None:
            started = self._probe(spec, spec.startup, Readiness(ready=None), self._started(known))
            self._add(spec.name, started, "startup")
        else:
            self._run_after_startup(spec, known=known)

    def _run_after_startup(self, spec: ReplicaSpec, *, known: bool) -> None:
        if spec.readiness is not None:
            state = Readiness() if known else Readiness(ready=None)
            self._add(
                spec.name,
                self._probe(spec, spec.readiness, state, self._readiness_flipped),
                "readiness",
            )
        elif spec.startup is not None:  # started, and nothing else says it is not ready
            self._readiness_flipped(spec, Readiness(ready=True), None)
        if spec.liveness is not None and self._on_dead is not None:
            alive = self._probe(spec, spec.liveness, Readiness(ready=True), self._liveness_flipped)
            self._add(spec.name, alive, "liveness")

    def _add(self, name: str, probing: Coroutine[Any, Any, None], kind: str) -> None:
        task = asyncio.create_task(probing, name=f"{kind} probe {name}")
        self._tasks.setdefault(name, []).append(task)

    def forget(self, name: str) -> None:
        """Stop probing `name` (it stopped or exited): nothing more is reported for it."""
        self._verdicts.pop(name, None)
        for task in self._tasks.pop(name, []):
            task.cancel()

    def watched(self) -> frozenset[str]:
        return frozenset(self._tasks)

    def verdicts(self) -> dict[str, tuple[bool, str | None]]:
        """Each watched replica's readiness as last reported (ready, why it failed), once one
        was: what the agent repeats now and then, so news lost on the way is made good."""
        return dict(self._verdicts)

    async def close(self) -> None:
        tasks = [task for tasks in self._tasks.values() for task in tasks]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _readiness_flipped(self, spec: ReplicaSpec, state: Readiness, reason: str | None) -> bool:
        self._verdicts[spec.name] = (bool(state.ready), reason)
        self._on_change(spec, bool(state.ready), reason)
        return False  # readiness is probed for as long as the replica runs

    def _liveness_flipped(self, spec: ReplicaSpec, state: Readiness, reason: str | None) -> bool:
        assert self._on_dead is not None  # watch() probes liveness only with a callback
        self._on_dead(spec, f"liveness probe failed: {reason or 'failed'}")
        return True  # dead: the agent kills it, and its next run is probed anew

    def _started(self, known: bool) -> Callable[[ReplicaSpec, Readiness, str | None], bool]:
        def flipped(spec: ReplicaSpec, state: Readiness, reason: str | None) -> bool:
            if state.ready:
                self._run_after_startup(spec, known=known)
            else:
                assert self._on_dead is not None  # watch() probes startup only with a callback
                self._on_dead(spec, f"startup probe failed: {reason or 'failed'}")
            return True  # either way, the startup probe is done

        return flipped

    async def _probe(
        self,
        spec: ReplicaSpec,
        probe: Probe,
        state: Readiness,
        flipped: Callable[[ReplicaSpec, Readiness, str | None], bool],
    ) -> None:
        await asyncio.sleep(probe.initial_delay_seconds)
        while True:
            began = time.monotonic()
            try:
                reason = await self._check_once(spec, probe)
            except Exception as error:  # a bug in a check must not end the probing for good
                log.exception("probing replica %s failed", spec.name)
                reason = f"probe error: {error}"
            state = state.observe(reason is None, probe)
            if state.changed and flipped(spec, state, reason):
                return
            await asyncio.sleep(max(0.0, probe.period_seconds - (time.monotonic() - began)))

    async def _check_once(self, spec: ReplicaSpec, probe: Probe) -> str | None:
        if probe.action == "exec":
            if self._exec_check is None:
                return "exec probes need a driver to run the command"
            return await self._exec_check(spec, probe)
        port = spec.port_for(probe)
        assert port is not None  # an http or tcp probe names one of the spec's ports
        return await self._check(probe, self._host, port)


class ReplicaProbes:
    """The agent's probing: a `Prober` whose exec checks run through the agent's driver, or,
    for simulated replicas (which listen on nothing), a probed replica ready at once and never
    found dead."""

    def __init__(
        self,
        driver: Driver,
        on_change: OnChange,
        *,
        on_dead: OnDead | None = None,
        check: Check = check_probe,
    ) -> None:
        self._driver = driver
        self._on_change = on_change
        self._simulated_ready: set[str] = set()
        self._specs: dict[str, ReplicaSpec] = {}
        self._prober: Prober | None = None
        if driver.kind != "sim":
            self._prober = Prober(
                on_change, on_dead=on_dead, check=check, exec_check=self._exec_check
            )

    def watch(self, spec: ReplicaSpec, *, known: bool = True) -> None:
        """Probe a replica that just started (or, `known=False`, was found running); no-op
        without a probe."""
        self._specs[spec.name] = spec
        if self._prober is not None:
            self._prober.watch(spec, known=known)
        elif spec.readiness is not None or spec.startup is not None:
            self._simulated_ready.add(spec.name)
            self._on_change(spec, True, None)

    def forget(self, name: str) -> None:
        self._specs.pop(name, None)
        self._simulated_ready.discard(name)
        if self._prober is not None:
            self._prober.forget(name)

    def verdicts(self) -> dict[str, tuple[bool, str | None]]:
        """Each probed replica's readiness as last reported (see `Prober.verdicts`)."""
        if self._prober is not None:
            return self._prober.verdicts()
        return dict.fromkeys(self._simulated_ready, (True, None))

    def repeat(self) -> None:
        """Report each probed replica's readiness again, as last reported."""
        for name, (ready, reason) in self.verdicts().items():
            self._on_change(self._specs[name], ready, reason)

    async def close(self) -> None:
        if self._prober is not None:
            await self._prober.close()

    async def _exec_check(self, spec: ReplicaSpec, probe: Probe) -> str | None:
        try:
            result = await self._driver.run_in(spec.name, probe.command, probe.timeout_seconds)
        except DriverError as error:
            return f"exec probe: {error}"
        return exec_verdict(probe, result)
