"""Helpers for the agent's tests: specs and events to feed it, and bounded waiting."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType

from local_broker.event import CloudEvent
from local_broker.testing import RecordingSink
from shoal import events
from shoal.agent.agent import Agent
from shoal.agent.driver import Driver
from shoal.agent.spec import AssignedPort, ReplicaSpec
from shoal.orchestration.spec import Resources
from shoal.runtime.event import Event


def replica(
    name: str = "web-1",
    *,
    node: str = "n1",
    deployment: str = "web",
    command: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cpu: int = 100,
    memory: int = 64,
    ports: Sequence[tuple[str, int]] = (),
) -> ReplicaSpec:
    return ReplicaSpec(
        name=name,
        deployment=deployment,
        node=node,
        image="127.0.0.1:5000/web:v1",
        command=tuple(command),
        env=MappingProxyType(dict(env or {})),
        resources=Resources(cpu, memory),
        ports=tuple(AssignedPort(port_name, port) for port_name, port in ports),
    )


def stop_data(*specs: ReplicaSpec) -> dict[str, object]:
    """`replica.stop.requested` data listing `specs`."""
    return {
        "replicas": [
            {"deployment": spec.deployment, "replica": spec.name, "node": spec.node}
            for spec in specs
        ]
    }


def scheduled_data(*specs: ReplicaSpec) -> dict[str, object]:
    """`replica.scheduled` data listing `specs`."""
    return {"replicas": [dict(spec.to_data()) for spec in specs]}


def shoal_event(type_: str, data: object, event_id: str | None = None) -> Event:
    """An event as the agent's endpoint parses it."""
    return Event(id=event_id or uuid.uuid4().hex, source="/shoal/test", type=type_, data=data)


def broker_event(type_: str, data: Mapping[str, object], node: str) -> CloudEvent:
    """An event as a function would post it to the broker, for the node's Trigger."""
    attributes = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "/shoal/test",
        "type": type_,
        "datacontenttype": "application/json",
        events.NODE_EXTENSION: node,
    }
    return CloudEvent(attributes, json.dumps(data).encode())


@dataclass(frozen=True)
class Seen:
    """An event a RecordingSink received: its attributes and decoded JSON data."""

    attributes: Mapping[str, object]
    data: dict[str, object]

    @property
    def type(self) -> object:
        return self.attributes["type"]


def seen(sink: RecordingSink, type_: str | None = None, since: int = 0) -> list[Seen]:
    """The events of `type_` the sink received, from its `since`-th request on."""
    found = []
    for received in sink.received[since:]:
        event = received.event
        if type_ is None or event.type == type_:
            found.append(Seen(event.attributes, json.loads(event.data or b"null")))
    return found


async def wait_until(
    condition: Callable[[], bool], timeout: float = 15.0, what: str = "the condition"
) -> None:
    """Poll `condition` every 20 ms until it holds; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def agent_running(agent: Agent) -> AsyncIterator[Agent]:
    """`agent` started and watching its replicas' exits; drained on the way out."""
    await agent.start()
    watcher = asyncio.create_task(agent.watch_exits())
    try:
        yield agent
    finally:
        watcher.cancel()
        await agent.drain(5)


async def close_driver(driver: Driver) -> None:
    """Stop every replica `driver` runs, then close it (a driver fixture's teardown)."""
    for status in await driver.list():
        await driver.stop(status.spec.name)
    await driver.close()


def unstamped(entries: Sequence[object]) -> list[dict[str, object]]:
    """Replica report entries without their `at` (the agent's clock), which each must have."""
    plain: list[dict[str, object]] = []
    for entry in entries:
        assert isinstance(entry, Mapping)
        assert isinstance(entry.get("at"), float), entry
        plain.append({key: value for key, value in entry.items() if key != "at"})
    return plain
