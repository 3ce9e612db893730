"""The agent against a real local broker, with a RecordingSink standing in for the functions."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from local_broker.testing import post_event
from shoal import events
from shoal.agent.runner import running_agent
from shoal.agent.settings import AgentSettings
from tests.shoal.agent.conftest import Platform
from tests.shoal.agent.support import (
    broker_event,
    replica,
    scheduled_data,
    seen,
    stop_data,
    unstamped,
    wait_until,
)


def settings(platform: Platform, tmp_path: Path, **changes: object) -> AgentSettings:
    options: dict[str, object] = {
        "name": "n1",
        "broker_url": platform.ingress,
        "driver": "sim",
        "data_dir": tmp_path / "agent",
        "write_trigger": platform.manifests,
        "heartbeat_interval": 0.2,
        **changes,
    }
    return AgentSettings(**options)  # type: ignore[arg-type]


async def post(platform: Platform, type_: str, data: dict[str, object], node: str) -> None:
    status, body = await post_event(platform.ingress, broker_event(type_, data, node))
    assert status == 202, body


async def test_it_registers_heartbeats_and_runs_what_is_scheduled(
    platform: Platform, tmp_path: Path
) -> None:
    sink = platform.sink
    async with running_agent(settings(platform, tmp_path, labels={"zone": "a"})) as running:
        await platform.wait_for_trigger("agent-n1")
        await wait_until(lambda: len(seen(sink, events.NODE_HEARTBEAT)) >= 2, what="heartbeats")
        [joined] = seen(sink, events.NODE_JOINED)
        assert joined.attributes["source"] == "/shoal/agents/n1"
        assert joined.attributes["subject"] == "n1"
        assert joined.attributes["shoalnode"] == "n1"
        assert joined.data["labels"] == {"zone": "a"}
        assert joined.data["replicas"] == []

        spec = replica("web-1", node="n1", cpu=100)
        await post(platform, events.REPLICA_SCHEDULED, scheduled_data(spec), "n1")
        await wait_until(lambda: seen(sink, events.REPLICA_STARTED) != [], what="started")
        [started] = seen(sink, events.REPLICA_STARTED)
        assert isinstance(started.data, dict)
        assert isinstance(started.data["replicas"], list)
        assert unstamped(started.data["replicas"]) == [
            {"deployment": "web", "replica": "web-1", "node": "n1"}
        ]
        assert started.attributes["subject"] == "n1"
        assert list(running.agent.running()) == ["web-1"]

        def beats_listing_web_1() -> list[object]:
            beats = seen(sink, events.NODE_HEARTBEAT)
            return [s for b in beats for s in b.data["nodes"] if s.get("replicas")]  # type: ignore[attr-defined]

        await wait_until(lambda: beats_listing_web_1() != [], what="a heartbeat listing web-1")

        await post(platform, events.REPLICA_STOP_REQUESTED, stop_data(spec), "n1")
        await wait_until(lambda: seen(sink, events.REPLICA_STOPPED) != [], what="stopped")
        assert running.agent.running() == {}


async def test_sim_load_shows_in_the_heartbeats(platform: Platform, tmp_path: Path) -> None:
    sink = platform.sink
    async with running_agent(settings(platform, tmp_path)) as running:
        await platform.wait_for_trigger("agent-n1")
        spec = replica("web-1", node="n1", cpu=200)
        await post(platform, events.REPLICA_SCHEDULED, scheduled_data(spec), "n1")
        await wait_until(lambda: seen(sink, events.REPLICA_STARTED) != [], what="started")
        async with aiohttp.ClientSession() as session:
            load = {"deployment": "web", "cpu_utilization": 90}
            async with session.post(f"{running.url}sim/load", json=load) as response:
                assert response.status == 200

        def measured_at_90() -> list[dict[str, object]]:
            beats = seen(sink, events.NODE_HEARTBEAT)
            statuses = [status for beat in beats for status in beat.data["nodes"]]  # type: ignore[attr-defined]
            entries = [entry for status in statuses for entry in status.get("replicas", [])]
            return [entry for entry in entries if entry["cpu_utilization"] == 90]

        await wait_until(lambda: measured_at_90() != [], what="a heartbeat with 90 %")
        assert measured_at_90()[0]["cpu_millis"] == 180


async def test_a_sim_agent_with_100_nodes_joins_and_heartbeats(
    platform: Platform, tmp_path: Path
) -> None:
    sink = platform.sink
    nodes = {f"sim-{index}" for index in range(100)}
    async with running_agent(settings(platform, tmp_path, name="sim", nodes=100)):
        await wait_until(
            lambda: {e.data["node"] for e in seen(sink, events.NODE_JOINED)} == nodes,
            what="100 nodes joining",
        )
        await wait_until(
            lambda: (
                {
                    status["node"]
                    for e in seen(sink, events.NODE_HEARTBEAT)
                    for status in e.data["nodes"]  # type: ignore[attr-defined]
                }
                == nodes
            ),
            what="100 nodes heartbeating",
        )
        await platform.wait_for_trigger("agent-sim")
        spec = replica("web-1", node="sim-42")
        await post(platform, events.REPLICA_SCHEDULED, scheduled_data(spec), "sim-42")
        await wait_until(lambda: seen(sink, events.REPLICA_STARTED) != [], what="started")
        [started] = seen(sink, events.REPLICA_STARTED)
        assert started.attributes["source"] == "/shoal/agents/sim-42"
    assert len(seen(sink, events.NODE_JOINED)) == 100
