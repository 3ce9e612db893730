"""Readiness probing: one task per running replica whose spec has a probe.

Each task waits `initialDelaySeconds`, then checks the replica's port every `periodSeconds`
(`shoal.orchestration.probes` has the rules) and calls `on_change(spec, ready, reason)` each
time the replica's readiness flips; the agent turns that into `replica.ready` or `.unready`.
Replicas run on the host's network (processes, or containers with `network_mode: host`), so
the probe goes to 127.0.0.1 and the host port the scheduler assigned.

A check is an `httpGet` (a GET of the path, redirects not followed: 200 to 399 is success, as
the kubelet counts) or a `tcpSocket` (a connection that opens), bounded by `timeoutSeconds`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp

from shoal.agent.spec import ReplicaSpec
from shoal.orchestration.probes import Probe, Readiness

__all__ = ["Check", "Prober", "check_probe"]

log = logging.getLogger("shoal.agent.probing")

Check = Callable[[Probe, str, int], Awaitable[str | None]]
"""(probe, host, port) -> None on success, else why it failed."""
OnChange = Callable[[ReplicaSpec, bool, str | None], None]


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
    def __init__(
        self, on_change: OnChange, *, check: Check = check_probe, host: str = "127.0.0.1"
    ) -> None:
        self._on_change = on_change
        self._check = check
        self._host = host
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, spec: ReplicaSpec, *, known: bool = True) -> None:
        """Probe `spec` from now on; no-op without a probe. A replica that just started is not
        ready until it passes; with `known=False` (one found running) its first verdict either
        way is reported."""
        if spec.readiness is None:
            return
        self.forget(spec.name)
        state = Readiness() if known else Readiness(ready=None)
        self._tasks[spec.name] = asyncio.create_task(
            self._probe(spec, state), name=f"probe {spec.name}"
        )

    def forget(self, name: str) -> None:
        """Stop probing `name` (it stopped or exited): nothing more is reported for it."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()

    def watched(self) -> frozenset[str]:
        return frozenset(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _probe(self, spec: ReplicaSpec, state: Readiness) -> None:
        probe, port = spec.readiness, spec.probe_port()
        assert probe is not None  # watch() takes only probed specs
        assert port is not None
        await asyncio.sleep(probe.initial_delay_seconds)
        while True:
            began = time.monotonic()
            try:
                reason = await self._check(probe, self._host, port)
            except Exception as error:  # a bug in a check must not end the probing for good
                log.exception("probing replica %s failed", spec.name)
                reason = f"probe error: {error}"
            state = state.observe(reason is None, probe)
            if state.changed:
                self._on_change(spec, bool(state.ready), reason)
            await asyncio.sleep(max(0.0, probe.period_seconds - (time.monotonic() - began)))
