"""Running an agent: its driver, store, sender, HTTP endpoint, Trigger file and loops.

    async with running_agent(settings) as running:
        ...  # running.url is the endpoint the Trigger points at

Start-up order matters: the agent binds its port (so its joins can say where it serves),
reconciles and queues its joins before it serves, so an event arriving after a restart waits
in the socket's backlog and then meets the reconciled state; the Trigger is written once the
endpoint answers. On exit: stop listening, finish the driver work under way, post what is
queued (bounded by `flush_timeout_seconds`), stop every replica if `stop_replicas_on_exit`,
close the driver (replicas of drivers whose replicas outlive the agent keep running unless
stopped) and the store.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from local_broker.exclusive import ExclusiveLock, LockHeld
from shoal.agent.agent import Agent
from shoal.agent.coalesce import Coalescer
from shoal.agent.driver import Driver
from shoal.agent.errors import StateInUse
from shoal.agent.exec import ExecDriver
from shoal.agent.sender import EventSender
from shoal.agent.server import build_app
from shoal.agent.settings import AgentSettings, SettingsError
from shoal.agent.sim import SimDriver
from shoal.agent.store import AssignmentStore
from shoal.agent.trigger import broker_of, render_agent_trigger, write_agent_trigger

__all__ = ["RunningAgent", "create_driver", "running_agent"]

log = logging.getLogger("shoal.agent")

PRUNE_EVERY_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class RunningAgent:
    agent: Agent
    url: str
    trigger_path: Path | None


async def create_driver(settings: AgentSettings) -> Driver:
    if settings.driver == "sim":
        return SimDriver(settings.sim)
    if settings.driver == "exec":
        return await ExecDriver.open(
            settings.state_dir / "exec", grace_seconds=settings.stop_grace_seconds
        )
    if settings.driver == "docker":
        # Imported here: the Docker SDK (and requests) only for agents that use it.
        from shoal.agent.docker_driver import DockerDriver  # noqa: PLC0415

        return await DockerDriver.open(settings.name, grace_seconds=settings.stop_grace_seconds)
    raise SettingsError(f"--driver {settings.driver}: choose one of sim, exec, docker")


@asynccontextmanager
async def running_agent(settings: AgentSettings) -> AsyncIterator[RunningAgent]:
    lock = _own_state_dir(settings)
    try:
        async with _running(settings) as running:
            yield running
    finally:
        lock.release()


def _own_state_dir(settings: AgentSettings) -> ExclusiveLock:
    """The state folder is this agent's alone (its assignments; the exec driver's replicas)."""
    try:
        return ExclusiveLock.acquire(settings.state_dir / "agent.lock")
    except LockHeld as held:
        raise StateInUse(
            f"another agent (process {held.holder or 'unknown'}) runs on {settings.state_dir}: "
            "stop it, or give this one another --name or --data-dir"
        ) from None


@asynccontextmanager
async def _running(settings: AgentSettings) -> AsyncIterator[RunningAgent]:
    # Bound first, served last: the joins carry the endpoint's URL (where `shoal logs` reads),
    # and the agent reconciles before anything reaches it.
    listener = _listen(settings.listen_host, settings.listen_port)
    try:
        url = settings.advertise_url or _endpoint_url(
            settings.listen_host, int(listener.getsockname()[1])
        )
        async with _serving(settings, listener, url) as running:
            yield running
    finally:
        listener.close()


@asynccontextmanager
async def _serving(
    settings: AgentSettings, listener: socket.socket, url: str
) -> AsyncIterator[RunningAgent]:
    driver = await create_driver(settings)
    store = AssignmentStore(settings.state_dir / "assignments.sqlite3")
    store.prune(time.time() - settings.retention_seconds)
    sender = EventSender(settings.broker_url, batch=settings.batching)
    await sender.start()
    reports = Coalescer(sender, settings.name)
    agent = Agent(
        nodes=settings.node_names,
        capacity=settings.capacity,
        labels=settings.labels,
        driver=driver,
        store=store,
        sink=reports,
        name=settings.name,
        url=url,
    )
    runner = web.AppRunner(build_app(agent, settings.name), access_log=None, handle_signals=False)
    loops: list[asyncio.Task[None]] = []
    try:
        await agent.start()
        await runner.setup()
        await web.SockSite(runner, listener).start()
        trigger_path = None
        if settings.write_trigger is not None:
            namespace, broker = broker_of(settings.broker_url)
            trigger = render_agent_trigger(
                settings.name, url, broker=broker, namespace=namespace, nodes=settings.nodes
            )
            trigger_path = write_agent_trigger(settings.write_trigger, trigger)
        loops.append(asyncio.create_task(agent.watch_exits(), name="exit watcher"))
        loops.append(asyncio.create_task(_heartbeats(agent, settings), name="heartbeats"))
        log.info("agent %s serving %d node(s) at %s", settings.name, len(agent.nodes), url)
        yield RunningAgent(agent, url, trigger_path)
    finally:
        await runner.cleanup()
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await agent.drain(settings.stop_grace_seconds + 1.0)
        reports.flush()
        await sender.close(settings.flush_timeout_seconds)
        if settings.stop_replicas_on_exit:
            await _stop_every_replica(driver)
        await driver.close()
        store.close()


async def _stop_every_replica(driver: Driver) -> None:
    """Stop what the driver runs, all at once, reporting nothing (the sender is closed). The
    assignments stay: the next agent on this state folder starts the replicas again."""
    running = await driver.list()
    if running:
        log.info("stopping %d replica(s) (--stop-replicas-on-exit)", len(running))
    results = await asyncio.gather(
        *(driver.stop(status.spec.name) for status in running), return_exceptions=True
    )
    for status, result in zip(running, results, strict=True):
        if isinstance(result, Exception):
            log.error("could not stop replica %s: %s", status.spec.name, result)


async def _heartbeats(agent: Agent, settings: AgentSettings) -> None:
    """A heartbeat per node every interval (a missed tick is skipped, not caught up), and
    now and then the pruning of old records."""
    loop = asyncio.get_running_loop()
    next_beat = next_prune = loop.time()
    while True:
        try:
            agent.send_heartbeats(await agent.driver.usage())
            if loop.time() >= next_prune:
                agent.prune(time.time() - settings.retention_seconds)
                next_prune = loop.time() + PRUNE_EVERY_SECONDS
        except Exception:  # a node that stops heartbeating is declared lost: keep beating
            log.exception("heartbeat failed; trying again next interval")
        now = loop.time()
        next_beat += settings.heartbeat_interval
        if next_beat < now:
            next_beat = now + settings.heartbeat_interval
        await asyncio.sleep(next_beat - now)


def _listen(host: str, port: int) -> socket.socket:
    """The agent's listening socket (OSError when the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def _endpoint_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: name this machine
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"
