"""The agent's HTTP endpoint, through aiohttp's test client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from local_broker.binding import encode_binary, encode_structured
from shoal import events
from shoal.agent.agent import Agent
from shoal.agent.driver import Driver
from shoal.agent.exec import ExecDriver
from shoal.agent.server import AGENT_KEY, FOLLOWERS_KEY, build_app
from shoal.agent.sim import SimDriver
from shoal.agent.store import AssignmentStore
from shoal.orchestration.spec import Resources
from tests.shoal.agent.support import broker_event, replica, scheduled_data

Client = TestClient[web.Request, web.Application]


class Discard:
    def send(self, event: object, *, supersedes: str | None = None) -> None:
        pass


async def client_for(driver: Driver, tmp_path: Path) -> AsyncIterator[tuple[Client, Agent]]:
    store = AssignmentStore(tmp_path / "assignments.sqlite3")
    agent = Agent(
        nodes=["n1"],
        capacity=Resources(1000, 1024),
        labels={},
        driver=driver,
        store=store,
        sink=Discard(),
    )
    async with TestClient(TestServer(build_app(agent, "n1"))) as client:
        yield client, agent
    await agent.drain(5)
    store.close()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[tuple[Client, Agent]]:
    async for pair in client_for(SimDriver(), tmp_path):
        yield pair


@pytest.mark.parametrize("encode", [encode_binary, encode_structured])
async def test_an_event_is_accepted_with_202(sim: tuple[Client, Agent], encode: object) -> None:
    client, agent = sim
    event = broker_event(events.REPLICA_SCHEDULED, scheduled_data(replica()), "n1")
    headers, body = encode(event)  # type: ignore[operator]
    response = await client.post("/", data=body, headers=headers)
    assert response.status == 202
    await agent.drain(5)
    assert list(agent.running()) == ["web-1"]


def binary(type_: str, data: dict[str, object], node: str) -> tuple[dict[str, str], bytes]:
    return encode_binary(broker_event(type_, data, node))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (({"Content-Type": "application/json"}, b"{}"), "missing ce-specversion"),
        (
            binary(events.REPLICA_SCHEDULED, scheduled_data(replica(node="n9")), "n9"),
            "node 'n9' is not run by this agent",
        ),
        (
            binary(events.REPLICA_STOP_REQUESTED, {"replicas": [{"replica": "x"}]}, "n1"),
            "data.deployment",
        ),
    ],
)
async def test_an_event_it_cannot_act_on_gets_400(
    sim: tuple[Client, Agent], request_: tuple[dict[str, str], bytes], message: str
) -> None:
    client, _agent = sim
    headers, body = request_
    response = await client.post("/", data=body, headers=headers)
    assert response.status == 400
    assert message in (await response.json())["error"]


async def test_status(sim: tuple[Client, Agent]) -> None:
    client, _agent = sim
    response = await client.get("/")
    assert await response.json() == {"agent": "n1", "driver": "sim", "nodes": ["n1"], "replicas": 0}


async def test_sim_load(sim: tuple[Client, Agent]) -> None:
    client, agent = sim
    await agent.driver.start(replica(cpu=100))
    response = await client.post("/sim/load", json={"deployment": "web", "cpu_utilization": 90})
    assert response.status == 200
    assert await response.json() == {"deployment": "web", "cpu_utilization": 90, "replicas": 1}
    assert (await agent.driver.usage())["web-1"].cpu_millis == 90.0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"cpu_utilization": 90}',
        b'{"deployment": "web", "cpu_utilization": -1}',
        b'{"deployment": "web", "cpu_utilization": "90"}',
        b'{"deployment": "web", "cpu_utilization": true}',
    ],
)
async def test_sim_load_refuses_what_it_cannot_read(sim: tuple[Client, Agent], body: bytes) -> None:
    client, _agent = sim
    response = await client.post("/sim/load", data=body)
    assert response.status == 400
    assert "cpu_utilization" in (await response.json())["error"]


async def test_sim_load_needs_the_sim_driver(tmp_path: Path) -> None:
    driver = await ExecDriver.open(tmp_path / "exec")
    async for client, _agent in client_for(driver, tmp_path):
        response = await client.post("/sim/load", json={"deployment": "web", "cpu_utilization": 1})
        assert response.status == 404
        assert "--driver sim" in (await response.json())["error"]


@asynccontextmanager
async def running_replica(tmp_path: Path, command: list[str]) -> AsyncIterator[Client]:
    """An exec agent's endpoint with replica web-1 running `command`; stopped after."""
    driver = await ExecDriver.open(tmp_path / "exec")
    try:
        async for client, agent in client_for(driver, tmp_path):
            spec = replica(command=command)
            headers, body = binary(events.REPLICA_SCHEDULED, scheduled_data(spec), "n1")
            assert (await client.post("/", data=body, headers=headers)).status == 202
            await agent.drain(5)
            yield client
            await driver.stop("web-1")
    finally:
        await driver.close()


async def test_a_replica_s_log_is_its_last_lines(tmp_path: Path) -> None:
    command = ["sh", "-c", "echo first; echo second; echo third; sleep 30"]
    async with running_replica(tmp_path, command) as client:
        for _ in range(200):
            response = await client.get("/replicas/web-1/log", params={"lines": "2"})
            if await response.text() == "second\nthird\n":
                break
            await asyncio.sleep(0.05)
        assert (response.status, response.content_type) == (200, "text/plain")
        assert await response.text() == "second\nthird\n"
        everything = await client.get("/replicas/web-1/log")  # 100 lines by default
        assert await everything.text() == "first\nsecond\nthird\n"

        unknown = await client.get("/replicas/web-9/log")
        assert unknown.status == 404
        assert "agent n1 has no replica web-9" in (await unknown.json())["error"]
        bad = await client.get("/replicas/web-1/log", params={"lines": "-3"})
        assert bad.status == 400
        assert "whole number" in (await bad.json())["error"]


async def test_a_followed_log_streams_until_the_replica_stops(tmp_path: Path) -> None:
    command = ["sh", "-c", "n=0; while true; do n=$((n+1)); echo tick $n; sleep 0.1; done"]
    async with running_replica(tmp_path, command) as client:
        response = await client.get("/replicas/web-1/log", params={"follow": "1"})
        assert (response.status, response.content_type) == (200, "text/plain")
        seen = b""
        async with asyncio.timeout(10):
            while seen.count(b"\n") < 5:  # the ticks keep coming
                seen += await response.content.readany()
        assert seen.startswith(b"tick 1\ntick 2\n")
        assert client.app is not None
        agent = client.app[AGENT_KEY]
        await agent.driver.stop("web-1")
        async with asyncio.timeout(10):
            rest = await response.content.read()  # the stream ends with the replica
        assert (seen + rest).decode().splitlines()[-1].startswith("tick ")
        unknown = await client.get("/replicas/web-1/log", params={"follow": "1"})
        assert unknown.status == 404


async def test_the_agent_s_shutdown_ends_open_follows(tmp_path: Path) -> None:
    async with running_replica(tmp_path, ["sleep", "30"]) as client:
        response = await client.get("/replicas/web-1/log", params={"follow": "1"})
        assert response.status == 200
        async with asyncio.timeout(10):  # not aiohttp's 60 s wait for handlers
            await client.server.close()
        assert client.app is not None
        assert client.app[FOLLOWERS_KEY] == set()
