"""`shoal agent --driver docker` as a process, through the real local broker and the real Docker
engine: it runs what is scheduled as containers, reports exits with their codes, and after a
SIGKILL and restart adopts its containers (no second container) and stops them when asked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_broker.testing import post_event
from shoal import events
from shoal.platform.ports import free_port
from tests.docker_engine import Engine, require_engine
from tests.shoal.agent.conftest import Platform
from tests.shoal.agent.support import (
    broker_event,
    replica,
    scheduled_data,
    seen,
    stop_data,
    wait_until,
)
from tests.shoal.agent.test_restart import agent_args, agent_process, kill

RUN_UNTIL_STOPPED = ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait $!"]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Engine:
    found = require_engine()
    monkeypatch.setenv("DOCKER_HOST", found.host)  # the agent processes' engine
    return found


@pytest.fixture
def node(engine: Engine) -> Iterator[str]:
    name = f"d{uuid.uuid4().hex[:10]}"
    yield name
    engine.remove_node_containers(name)


async def post(platform: Platform, type_: str, data: dict[str, object], node: str) -> None:
    status, body = await post_event(platform.ingress, broker_event(type_, data, node))
    assert status == 202, body


async def test_a_docker_agent_runs_reports_and_adopts_its_containers(
    platform: Platform, tmp_path: Path, engine: Engine, node: str
) -> None:
    args = agent_args(platform, tmp_path, "docker", free_port())
    args[args.index("--name") + 1] = node
    web = engine.on_node(replica("web-1", command=RUN_UNTIL_STOPPED), node)
    crashing = engine.on_node(replica("web-2", command=["sh", "-c", "sleep 0.5; exit 3"]), node)
    log = tmp_path / "agent.log"

    def joins() -> list[Any]:
        return seen(platform.sink, events.NODE_JOINED)

    with agent_process(args, log) as first:
        await wait_until(lambda: len(joins()) == 1, timeout=30, what=f"the first join ({log})")
        await platform.wait_for_trigger(f"agent-{node}")
        await post(platform, events.REPLICA_SCHEDULED, scheduled_data(web), node)
        await post(platform, events.REPLICA_SCHEDULED, scheduled_data(crashing), node)

        def exits() -> list[Any]:
            found = seen(platform.sink, events.REPLICA_EXITED)
            return [entry for event in found for entry in event.data["replicas"]]  # type: ignore[attr-defined]

        await wait_until(lambda: exits() != [], timeout=30, what="web-2 exiting")
        [exited] = exits()
        assert (exited["replica"], exited["exit_code"]) == ("web-2", 3)
        assert exited["reason"] == "exited with code 3"
        await wait_until(lambda: len(engine.node_containers(node)) == 1, what="web-2 removed")
        [before] = engine.node_containers(node)
        kill(first)

    [after_kill] = engine.node_containers(node)
    assert after_kill["Id"] == before["Id"]
    assert after_kill["State"]["Running"]

    with agent_process(args, log) as second:
        await wait_until(lambda: len(joins()) == 2, timeout=30, what="the second join")
        assert joins()[1].data["replicas"] == [{"deployment": "web", "replica": "web-1"}]
        [adopted] = engine.node_containers(node)
        assert (adopted["Id"], adopted["State"]["StartedAt"]) == (
            before["Id"],
            before["State"]["StartedAt"],
        )
        await post(platform, events.REPLICA_STOP_REQUESTED, stop_data(web), node)
        await wait_until(
            lambda: seen(platform.sink, events.REPLICA_STOPPED) != [], what="web-1 stopped"
        )
        assert engine.node_containers(node) == []
        second.terminate()
        assert second.wait(timeout=15) == 0
