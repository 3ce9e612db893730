"""The nodes function: joins, heartbeats, loss after the grace period, and nodes coming back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import functions.nodes as nodes_module
from functions.nodes import (
    LIVENESS_CHECK_PERIOD_SECONDS,
    LIVENESS_TICK,
    ON_HEARTBEAT_VARIABLE,
    CheckThrottle,
    NodesSettings,
    nodes,
)
from functions.scheduler import scheduler
from shoal import events
from shoal.model import LEASE, NODE, ReplicaRecord
from shoal.model.replica import Phase
from shoal.orchestration.nodes import Liveness, check_due

from .harness import BACKENDS, START, Harness, JsonEvent, of_type, opened_store


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with opened_store(request.param, tmp_path) as store:
        yield Harness(store)


def joined(
    harness: Harness, node: str, *running: str, zone: str = "a", agent_url: str | None = None
) -> list[JsonEvent]:
    data: events.NodeJoined = {
        "node": node,
        "capacity": {"cpu_millis": 2000, "memory_mib": 2048},
        "labels": {"zone": zone},
        "replicas": [{"deployment": "web", "replica": name} for name in running],
    }
    if agent_url is not None:
        data["agent_url"] = agent_url
    return harness.send(nodes, events.NODE_JOINED, dict(data), source=f"/shoal/agents/{node}")


def heartbeat(
    harness: Harness,
    node: str,
    running: Sequence[tuple[str, int | None]] = (),
    *,
    arrived: str | None = None,
) -> list[JsonEvent]:
    """A heartbeat reporting `running` replicas with their cpu utilisation (percent), which the
    broker received at `arrived` (RFC 3339) when given."""
    status: events.NodeStatus = {
        "node": node,
        "capacity": {"cpu_millis": 2000, "memory_mib": 2048},
        "allocated": {"cpu_millis": 100 * len(running), "memory_mib": 64 * len(running)},
        "usage": {"cpu_millis": 50 * len(running), "memory_mib": 30 * len(running)},
        "replicas": [
            {
                "deployment": "web",
                "replica": name,
                "cpu_millis": 50,
                "memory_mib": 30,
                "cpu_utilization": utilization,
                "started_at": "2026-05-01T12:00:00Z",
            }
            for name, utilization in running
        ],
    }
    extensions = {} if arrived is None else {"knativearrivaltime": arrived}
    source = f"/shoal/agents/{node}"
    data: events.NodeHeartbeat = {"nodes": [status]}
    return harness.send(
        nodes, events.NODE_HEARTBEAT, dict(data), source=source, extensions=extensions
    )


def placed(harness: Harness, name: str, node: str, phase: Phase = "running") -> ReplicaRecord:
    replica = ReplicaRecord(name, "web", "r1", phase=phase, node=node, cpu_millis=100)
    harness.put_replicas(replica)
    return replica


def test_a_join_records_the_node_and_heartbeats_keep_it_current(harness: Harness) -> None:
    assert joined(harness, "n1") == []
    harness.clock.advance(1)

    assert heartbeat(harness, "n1", [("web-1", 40), ("web-2", None)]) == []

    node = harness.node("n1")
    assert (node.cpu_millis, node.memory_mib, node.labels) == (2000, 2048, {"zone": "a"})
    assert node.ready
    assert node.joined_at == START.timestamp()
    lease = harness.lease("n1")
    assert lease.renewed_at == START.timestamp() + 1
    assert (lease.usage_cpu_millis, lease.usage_memory_mib) == (100, 60)
    assert lease.replica_cpu_utilization == {"web-1": 40.0}


def test_a_node_is_lost_after_three_missed_heartbeats(harness: Harness) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    placed(harness, "web-1", "n1", "running")
    placed(harness, "web-2", "n1", "scheduled")
    placed(harness, "web-3", "n1", "stopped")
    placed(harness, "web-4", "n2")
    harness.clock.advance(1)
    heartbeat(harness, "n1")
    heartbeat(harness, "n2")

    harness.clock.advance(3)  # exactly three intervals: the third may still be on its way
    heartbeat(harness, "n2")
    assert harness.tick(nodes, LIVENESS_TICK) == []
    harness.clock.advance(0.5)
    heartbeat(harness, "n2")
    emitted = harness.tick(nodes, LIVENESS_TICK)

    assert [(e["type"], e["subject"]) for e in emitted] == [
        (events.NODE_LOST, "n1"),
        (events.REPLICA_LOST, "n1"),  # one event listing the node's replicas
    ]
    assert emitted[0]["data"] == {"node": "n1", "last_heartbeat": "2026-05-01T12:00:01Z"}
    reason = "node n1 sent no heartbeat for 3.5 s"
    assert emitted[1]["data"] == {
        "replicas": [
            {"deployment": "web", "replica": "web-1", "node": "n1", "reason": reason},
            {"deployment": "web", "replica": "web-2", "node": "n1", "reason": reason},
        ]
    }
    assert not harness.node("n1").ready
    assert harness.node("n2").ready
    assert [harness.replica(f"web-{i}").phase for i in range(1, 5)] == [
        "lost",
        "lost",
        "stopped",
        "running",
    ]
    assert harness.tick(nodes, LIVENESS_TICK) == []  # lost once


def test_the_scheduler_frees_what_lost_replicas_held(harness: Harness) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    harness.put_replicas(ReplicaRecord("web-1", "web", "r1", cpu_millis=500, memory_mib=64))
    template = {"image": "web:v1", "command": [], "env": {}, "resources": {}, "ports": []}
    request = {"deployment": "web", "revision": "r1", "replicas": ["web-1"], "template": template}
    harness.send(scheduler, events.REPLICA_REQUESTED, request)
    assert harness.node("n1").allocated_cpu_millis == 500
    harness.clock.advance(4)
    heartbeat(harness, "n2")

    for lost in of_type(harness.tick(nodes, LIVENESS_TICK), events.REPLICA_LOST):
        harness.send(scheduler, lost["type"], lost["data"], source=lost["source"])

    assert harness.node("n1").allocated_cpu_millis == 0
    assert harness.allocations("n1") == {}


def test_nodes_silent_together_are_not_ready_and_keep_their_replicas(harness: Harness) -> None:
    for name in ("n1", "n2", "n3"):
        joined(harness, name)
    placed(harness, "web-1", "n2")
    placed(harness, "web-2", "n3")
    harness.clock.advance(3)
    heartbeat(harness, "n1")
    assert harness.tick(nodes, LIVENESS_TICK) == []  # 3 s behind n1: not yet
    harness.clock.advance(0.5)
    heartbeat(harness, "n1")

    # Two of three went quiet: the median rule loses neither (the pipeline may be stalled) ...
    emitted = harness.tick(nodes, LIVENESS_TICK)
    assert [(e["type"], e["subject"]) for e in emitted] == [
        (events.NODE_NOT_READY, "n2"),
        (events.NODE_NOT_READY, "n3"),
    ]
    assert emitted[0]["data"] == {
        "node": "n2",
        "last_heartbeat": "2026-05-01T12:00:00Z",
        "reason": "no heartbeat for 3.5 s while others beat",
    }
    # ... but they are not ready, so the scheduler places nothing there, and keep their replicas.
    assert [harness.node(n).ready for n in ("n1", "n2", "n3")] == [True, False, False]
    assert [harness.lease(n).silent for n in ("n1", "n2", "n3")] == [False, True, True]
    assert not harness.lease("n2").expired
    assert [harness.replica(r).phase for r in ("web-1", "web-2")] == ["running", "running"]
    harness.put_replicas(ReplicaRecord("web-3", "web", "r1", cpu_millis=100))
    template = {"image": "web:v1", "command": [], "env": {}, "resources": {}, "ports": []}
    request = {"deployment": "web", "revision": "r1", "replicas": ["web-3"], "template": template}
    harness.send(scheduler, events.REPLICA_REQUESTED, request)
    assert harness.replica("web-3").node == "n1"
    assert harness.tick(nodes, LIVENESS_TICK) == []  # said once

    assert heartbeat(harness, "n2", [("web-1", 10)]) == []  # back: ready, nothing to stop

    assert [harness.node(n).ready for n in ("n1", "n2", "n3")] == [True, True, False]
    assert [harness.lease(n).silent for n in ("n1", "n2", "n3")] == [False, False, True]
    assert harness.replica("web-1").phase == "running"


def silence_two_of_three(harness: Harness) -> None:
    """n1, n2 and n3 join; then only n1 beats, for longer than the grace: n2 and n3 are silent."""
    for name in ("n1", "n2", "n3"):
        joined(harness, name)
    harness.clock.advance(4)
    heartbeat(harness, "n1")
    harness.tick(nodes, LIVENESS_TICK)


def test_a_silent_node_that_rejoins_is_ready_again(harness: Harness) -> None:
    silence_two_of_three(harness)
    assert not harness.node("n3").ready

    joined(harness, "n3", zone="b")  # its agent restarted

    assert harness.node("n3").ready
    assert not harness.lease("n3").silent
    assert harness.node("n3").labels == {"zone": "b"}
    # The same Node: registered at START, joined again 4 s later.
    assert (harness.node("n3").created_at, harness.node("n3").joined_at) == (
        START.timestamp(),
        START.timestamp() + 4,
    )


def test_a_heartbeat_without_the_list_makes_a_silent_node_ready(harness: Harness) -> None:
    silence_two_of_three(harness)
    assert not harness.node("n2").ready

    assert light(harness, "n2") == []

    assert harness.node("n2").ready
    assert not harness.lease("n2").silent


def test_a_silent_node_is_lost_once_most_nodes_beat_again(harness: Harness) -> None:
    silence_two_of_three(harness)
    placed(harness, "web-3", "n3")
    heartbeat(harness, "n2")  # n2 is back: now most nodes beat, and n3 is judged

    emitted = harness.tick(nodes, LIVENESS_TICK)

    assert [(e["type"], e["subject"]) for e in emitted] == [
        (events.NODE_LOST, "n3"),
        (events.REPLICA_LOST, "n3"),
    ]
    assert harness.replica("web-3").phase == "lost"
    heartbeat(harness, "n3", [("web-3", 10)])  # back as a lost node comes back
    assert harness.node("n3").ready
    assert (harness.lease("n3").expired, harness.lease("n3").silent) == (False, False)


def test_a_node_that_comes_back_stops_its_stale_replicas(harness: Harness) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    placed(harness, "web-1", "n1")
    harness.clock.advance(4)
    heartbeat(harness, "n2")
    harness.tick(nodes, LIVENESS_TICK)  # web-1 is lost; deployments replaces it elsewhere
    assert not harness.node("n1").ready
    placed(harness, "web-5", "n1", "scheduled")  # placed on n1 since it came back, say

    emitted = heartbeat(harness, "n1", [("web-1", 10), ("web-5", 10), ("web-9", None)])

    assert harness.node("n1").ready
    (stop,) = emitted
    assert (stop["type"], stop["subject"], stop["shoalnode"]) == (
        events.REPLICA_STOP_REQUESTED,
        "n1",
        "n1",
    )
    assert stop["data"] == {
        "replicas": [
            {"deployment": "web", "replica": "web-1", "node": "n1"},
            {"deployment": "web", "replica": "web-9", "node": "n1"},  # no record at all
        ]
    }
    assert heartbeat(harness, "n1", [("web-1", 10)]) == []  # ready again: plain heartbeats


def test_heartbeats_handled_late_are_judged_by_their_arrival(harness: Harness) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    placed(harness, "web-1", "n1")
    harness.clock.advance(10)  # the store was busy, or the heartbeats queued in the broker

    assert harness.tick(nodes, LIVENESS_TICK) == []  # no heartbeat seen since: no verdict
    heartbeat(harness, "n1", arrived="2026-05-01T12:00:01Z")
    heartbeat(harness, "n2", arrived="2026-05-01T12:00:01Z")
    heartbeat(harness, "n2", arrived="2026-05-01T12:00:02.500Z")  # n1's of 2 s still queued
    assert harness.tick(nodes, LIVENESS_TICK) == []
    assert harness.lease("n1").renewed_at == START.timestamp() + 1
    heartbeat(harness, "n2", arrived="2026-05-01T12:00:02Z")  # delivered out of order: older
    assert harness.lease("n2").renewed_at == START.timestamp() + 2.5

    heartbeat(harness, "n2", arrived="2026-05-01T12:00:05Z")
    emitted = harness.tick(nodes, LIVENESS_TICK)

    assert [(e["type"], e["subject"]) for e in emitted] == [
        (events.NODE_LOST, "n1"),
        (events.REPLICA_LOST, "n1"),
    ]
    assert emitted[1]["data"]["replicas"][0]["reason"] == "node n1 sent no heartbeat for 5.0 s"


def test_an_agent_that_restarts_rejoins_and_stops_what_it_should_not_run(
    harness: Harness,
) -> None:
    joined(harness, "n1")
    placed(harness, "web-1", "n1")
    placed(harness, "web-2", "n2")  # moved on while n1's agent was down

    emitted = joined(harness, "n1", "web-1", "web-2", zone="b")

    assert [r["replica"] for e in emitted for r in e["data"]["replicas"]] == ["web-2"]
    assert harness.node("n1").labels == {"zone": "b"}


def test_a_heartbeat_from_an_unknown_node_registers_it(harness: Harness) -> None:
    assert heartbeat(harness, "n7") == []

    node = harness.node("n7")
    assert (node.ready, node.cpu_millis, node.labels) == (True, 2000, {})
    assert harness.lease("n7").renewed_at == START.timestamp()


def test_a_join_records_where_the_agent_serves(harness: Harness) -> None:
    joined(harness, "n1", agent_url="http://127.0.0.1:41234/")
    assert harness.node("n1").agent_url == "http://127.0.0.1:41234/"

    joined(harness, "n1", agent_url="http://127.0.0.1:45678/")  # a restarted agent, elsewhere
    assert harness.node("n1").agent_url == "http://127.0.0.1:45678/"
    joined(harness, "n1")  # an agent that does not say
    assert harness.node("n1").agent_url is None


def test_malformed_reports_are_dead_lettered(harness: Harness) -> None:
    harness.send(nodes, events.NODE_HEARTBEAT, {"node": "n1"}, status=422)
    harness.send(nodes, events.NODE_JOINED, {"node": "n1", "capacity": "big"}, status=422)
    join: dict[str, object] = {
        "node": "n1",
        "capacity": {"cpu_millis": 1, "memory_mib": 1},
        "labels": {},
        "replicas": [],
        "agent_url": 8080,
    }
    harness.send(nodes, events.NODE_JOINED, join, status=422)


def test_the_grace_comes_from_the_environment() -> None:
    assert NodesSettings.from_environ({}).liveness == Liveness(1.0, 3)
    environ = {"SHOAL_NODE_HEARTBEAT_INTERVAL": "0.5", "SHOAL_NODE_MISSED_HEARTBEATS": "4"}
    assert NodesSettings.from_environ(environ).liveness == Liveness(0.5, 4)
    with pytest.raises(ValueError, match="SHOAL_NODE_MISSED_HEARTBEATS='x'"):
        NodesSettings.from_environ({"SHOAL_NODE_MISSED_HEARTBEATS": "x"})
    with pytest.raises(ValueError, match="above 0"):
        NodesSettings.from_environ({"SHOAL_NODE_HEARTBEAT_INTERVAL": "0"})


def test_a_heartbeat_renews_the_lease_and_leaves_the_node_alone(harness: Harness) -> None:
    """The scheduler writes the Node (allocation sums); heartbeats never do, so the two never
    conflict on a row (PostgreSQL SERIALIZABLE) and a heartbeat writes one small record."""
    joined(harness, "n1")
    with harness.store.transaction() as tx:
        before = tx.get(NODE, "n1")
    harness.clock.advance(1)

    heartbeat(harness, "n1")
    heartbeat(harness, "n1")

    with harness.store.transaction() as tx:
        after = tx.get(NODE, "n1")
    assert before is not None
    assert after is not None
    assert after.version == before.version
    assert harness.lease("n1").renewed_at == START.timestamp() + 1


def test_one_heartbeat_of_a_sim_agent_renews_every_node_it_lists(harness: Harness) -> None:
    joined(harness, "sim-0")
    joined(harness, "sim-1")
    harness.clock.advance(2)
    statuses: list[dict[str, object]] = [
        {
            "node": node,
            "capacity": {"cpu_millis": 2000, "memory_mib": 2048},
            "allocated": {"cpu_millis": 0, "memory_mib": 0},
            "usage": {"cpu_millis": 0, "memory_mib": 0},
            "replicas": [],
        }
        for node in ("sim-0", "sim-1")
    ]

    assert harness.send(nodes, events.NODE_HEARTBEAT, {"nodes": statuses}) == []

    assert [harness.lease(node).renewed_at for node in ("sim-0", "sim-1")] == [
        START.timestamp() + 2
    ] * 2


def light(harness: Harness, node: str) -> list[JsonEvent]:
    """A heartbeat without the replica list (sent between the full ones)."""
    status = {
        "node": node,
        "capacity": {"cpu_millis": 2000, "memory_mib": 2048},
        "allocated": {"cpu_millis": 0, "memory_mib": 0},
        "usage": {"cpu_millis": 7, "memory_mib": 3},
    }
    return harness.send(nodes, events.NODE_HEARTBEAT, {"nodes": [status]})


def test_a_heartbeat_without_the_list_keeps_the_last_utilisation(harness: Harness) -> None:
    joined(harness, "n1")
    heartbeat(harness, "n1", [("web-1", 40)])
    harness.clock.advance(1)

    assert light(harness, "n1") == []

    lease = harness.lease("n1")
    assert (lease.renewed_at, lease.usage_cpu_millis) == (START.timestamp() + 1, 7)
    assert lease.replica_cpu_utilization == {"web-1": 40.0}


def test_a_lost_node_comes_back_with_its_first_full_heartbeat(harness: Harness) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    placed(harness, "web-1", "n1")
    harness.clock.advance(4)
    heartbeat(harness, "n2")
    harness.tick(nodes, LIVENESS_TICK)  # n1 lost; web-1 replaced elsewhere

    assert light(harness, "n1") == []  # no list: its stale replicas cannot be told yet
    assert not harness.node("n1").ready
    assert harness.lease("n1").expired
    (stop,) = heartbeat(harness, "n1", [("web-1", 10)])

    assert harness.node("n1").ready
    assert not harness.lease("n1").expired
    assert [r["replica"] for r in stop["data"]["replicas"]] == ["web-1"]


@pytest.fixture
def checks_on_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """nodes as Knative runs it: heartbeats run the liveness check too (a fresh throttle)."""
    monkeypatch.setattr(nodes_module, "SETTINGS", NodesSettings(check_on_heartbeat=True))
    monkeypatch.setattr(nodes_module, "CHECKS", CheckThrottle(LIVENESS_CHECK_PERIOD_SECONDS))


@pytest.mark.usefixtures("checks_on_heartbeats")
def test_on_knative_a_live_node_s_heartbeat_declares_a_silent_node_lost(
    harness: Harness,
) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    placed(harness, "web-1", "n1")
    harness.clock.advance(1)
    heartbeat(harness, "n1")
    assert heartbeat(harness, "n2") == []  # checked (n1 beat just now): nothing lost

    harness.clock.advance(3.5)  # n1 silent for 3.5 s, more than the 3 s grace; no tick came
    emitted = heartbeat(harness, "n2")

    assert [(e["type"], e["subject"]) for e in emitted] == [
        (events.NODE_LOST, "n1"),
        (events.REPLICA_LOST, "n1"),
    ]
    assert not harness.node("n1").ready
    assert harness.replica("web-1").phase == "lost"
    harness.clock.advance(0.5)
    assert heartbeat(harness, "n2") == []  # lost once
    assert harness.tick(nodes, LIVENESS_TICK) == []


@pytest.mark.usefixtures("checks_on_heartbeats")
def test_heartbeats_check_liveness_at_most_once_per_period(harness: Harness) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    harness.clock.advance(1)
    heartbeat(harness, "n1")
    heartbeat(harness, "n2")
    harness.clock.advance(3.5)
    assert heartbeat(harness, "n2") != []  # the check ran and found n1 silent
    joined(harness, "n3")
    harness.clock.advance(2.9)
    assert heartbeat(harness, "n2") == []  # a check: n3 silent for 2.9 s, within the grace
    harness.clock.advance(0.2)
    assert heartbeat(harness, "n2") == []  # 0.2 s after that check: none, though n3 is late

    assert harness.node("n3").ready
    harness.clock.advance(0.4)
    lost = heartbeat(harness, "n2")
    assert [(e["type"], e["subject"]) for e in lost][:1] == [(events.NODE_LOST, "n3")]


def test_without_the_setting_heartbeats_leave_liveness_to_the_tick(harness: Harness) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    harness.clock.advance(5)
    assert heartbeat(harness, "n2") == []
    assert [e["subject"] for e in harness.tick(nodes, LIVENESS_TICK)] == ["n1"]


def test_the_heartbeat_check_switch_comes_from_the_environment() -> None:
    assert not NodesSettings.from_environ({}).check_on_heartbeat
    assert NodesSettings.from_environ({ON_HEARTBEAT_VARIABLE: "1"}).check_on_heartbeat
    assert not NodesSettings.from_environ({ON_HEARTBEAT_VARIABLE: "false"}).check_on_heartbeat
    with pytest.raises(ValueError, match="SHOAL_NODE_LIVENESS_ON_HEARTBEAT='yes please'"):
        NodesSettings.from_environ({ON_HEARTBEAT_VARIABLE: "yes please"})


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [
        (None, 10.0, True),  # never checked
        (10.0, 10.4, False),  # within the period
        (10.0, 10.5, True),  # a whole period later
        (10.0, 9.0, True),  # the clock went back
    ],
)
def test_check_due(last: float | None, now: float, due: bool) -> None:
    assert check_due(last, now, 0.5) is due


def removed(
    harness: Harness, node: str, reason: str = "", *, arrived: str | None = None, status: int = 204
) -> list[JsonEvent]:
    data: events.NodeRemoved = {"node": node, "reason": reason}
    extensions = {} if arrived is None else {"knativearrivaltime": arrived}
    return harness.send(
        nodes, events.NODE_REMOVED, dict(data), extensions=extensions, status=status
    )


def node_exists(harness: Harness, name: str) -> bool:
    with harness.store.transaction() as tx:
        return tx.get(NODE, name) is not None


def test_a_removed_node_is_deleted_and_its_replicas_lost_at_once(harness: Harness) -> None:
    joined(harness, "n1")
    joined(harness, "n2")
    placed(harness, "web-1", "n1", "running")
    placed(harness, "web-2", "n1", "stopped")
    placed(harness, "web-3", "n2")

    emitted = removed(harness, "n1", "agent sim no longer runs it")

    reason = "node n1 was removed: agent sim no longer runs it"
    assert [(e["type"], e["subject"], e["data"]) for e in emitted] == [
        (
            events.REPLICA_LOST,
            "n1",
            {
                "replicas": [
                    {"deployment": "web", "replica": "web-1", "node": "n1", "reason": reason}
                ]
            },
        )
    ]
    assert not node_exists(harness, "n1")
    lease = harness.lease("n1")
    assert (lease.expired, lease.removed_at) == (True, START.timestamp())
    assert [harness.replica(f"web-{i}").phase for i in (1, 2, 3)] == ["lost", "stopped", "running"]
    assert harness.node("n2").ready
    harness.clock.advance(10)
    heartbeat(harness, "n2")
    assert harness.tick(nodes, LIVENESS_TICK) == []  # removed, so never declared lost as well


def test_reports_from_before_the_removal_are_ignored_and_later_ones_bring_it_back(
    harness: Harness,
) -> None:
    joined(harness, "n1")
    placed(harness, "web-1", "n1")
    removed(harness, "n1", arrived="2026-05-01T12:00:05Z")

    # a heartbeat the broker took before the removal, delivered after it
    assert heartbeat(harness, "n1", [("web-1", 10)], arrived="2026-05-01T12:00:04Z") == []
    assert not node_exists(harness, "n1")

    emitted = heartbeat(harness, "n1", [("web-1", 10)], arrived="2026-05-01T12:00:06Z")

    assert harness.node("n1").ready  # back, as a kubelet re-registers a deleted Node
    assert harness.lease("n1").removed_at is None
    (stop,) = emitted  # what it ran was lost at the removal and is replaced elsewhere
    assert stop["type"] == events.REPLICA_STOP_REQUESTED
    assert stop["data"] == {"replicas": [{"deployment": "web", "replica": "web-1", "node": "n1"}]}


def test_removing_an_unknown_or_removed_node_changes_nothing(harness: Harness) -> None:
    assert removed(harness, "ghost") == []
    with harness.store.transaction() as tx:
        assert tx.get(LEASE, "ghost") is None

    joined(harness, "n1")
    placed(harness, "web-1", "n1")
    assert len(removed(harness, "n1")) == 1
    harness.clock.advance(1)
    assert removed(harness, "n1") == []  # delivered twice, or removed twice
    assert harness.lease("n1").removed_at == START.timestamp()


def test_a_malformed_removal_is_dead_lettered(harness: Harness) -> None:
    harness.send(nodes, events.NODE_REMOVED, {"reason": "no node"}, status=422)
    harness.send(nodes, events.NODE_REMOVED, {"node": "n1", "reason": 7}, status=422)
