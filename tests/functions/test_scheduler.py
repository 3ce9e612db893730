"""The scheduler, driven by event sequences through the runtime, over a SQLite store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import functions.scheduler as scheduler_module
from functions.nodes import nodes
from functions.scheduler import RESYNC_TICK, RETRY_TICK, SchedulerSettings, scheduler
from shoal import events
from shoal.controllers.placing import UNSCHEDULABLE
from shoal.model import NODE, REPLICA, ReplicaRecord
from shoal.orchestration.placement import Strategy
from shoal.orchestration.probes import Probe, ProbeData

from .harness import BACKENDS, Harness, JsonEvent, of_type, opened_store

TEMPLATE: events.ReplicaTemplate = {
    "image": "127.0.0.1:5000/web:v1",
    "command": ["httpd", "-f", "-p", "$PORT"],
    "env": {"MODE": "test"},
    "resources": {"cpu_millis": 400, "memory_mib": 256},
    "ports": ["http"],
}


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with opened_store(request.param, tmp_path) as store:
        yield Harness(store)


def join(harness: Harness, node: str, cpu: int = 1000, memory: int = 1024, **labels: str) -> None:
    """A node joins: nodes records it, then the scheduler hears of it too."""
    data: events.NodeJoined = {
        "node": node,
        "capacity": {"cpu_millis": cpu, "memory_mib": memory},
        "labels": labels,
        "replicas": [],
    }
    harness.send(nodes, events.NODE_JOINED, dict(data), source=f"/shoal/agents/{node}")
    harness.send(scheduler, events.NODE_JOINED, dict(data), source=f"/shoal/agents/{node}")


def request(
    harness: Harness,
    count: int,
    deployment: str = "web",
    *,
    first: int = 0,
    cpu: int = 400,
    memory: int = 256,
    ports: int = 1,
    node_selector: Mapping[str, str] | None = None,
    create: bool = True,
    readiness: ProbeData | None = None,
    liveness: ProbeData | None = None,
    startup: ProbeData | None = None,
) -> list[JsonEvent]:
    """What deployments does: create `pending` Replica records, then request them at once."""
    replicas = [
        ReplicaRecord(
            name=f"{deployment}-{i}",
            deployment=deployment,
            revision="r1",
            cpu_millis=cpu,
            memory_mib=memory,
            port_count=ports,
            node_selector=dict(node_selector or {}),
        )
        for i in range(first, first + count)
    ]
    if create:
        harness.put_replicas(*replicas)
    template: events.ReplicaTemplate = {
        **TEMPLATE,
        "resources": {"cpu_millis": cpu, "memory_mib": memory},
        "ports": ["http", "admin"][:ports],
    }
    if readiness is not None:
        template["readiness"] = readiness
    if liveness is not None:
        template["liveness"] = liveness
    if startup is not None:
        template["startup"] = startup
    data: events.ReplicaRequested = {
        "deployment": deployment,
        "revision": "r1",
        "replicas": [replica.name for replica in replicas],
        "template": template,
        "node_selector": dict(node_selector or {}),
    }
    return harness.send(scheduler, events.REPLICA_REQUESTED, dict(data))


def report(harness: Harness, type_: str, replica: str, node: str) -> list[JsonEvent]:
    entry: dict[str, object] = {"deployment": "web", "replica": replica, "node": node}
    if type_ == events.REPLICA_EXITED:
        entry |= {"exit_code": 1, "reason": "exited with status 1"}
    data = {"replicas": [entry]}
    return harness.send(scheduler, type_, data, source=f"/shoal/agents/{node}")


def listed(emitted: list[JsonEvent], type_: str = events.REPLICA_SCHEDULED) -> list[Any]:
    """The entries of every event of `type_` (`data.replicas`), in order."""
    return [entry for event in of_type(emitted, type_) for entry in event["data"]["replicas"]]


def placed_on(emitted: list[JsonEvent]) -> Counter[str]:
    return Counter(entry["node"] for entry in listed(emitted))


def test_placement_respects_capacity_and_tells_each_agent_what_to_run(harness: Harness) -> None:
    for node in ("n1", "n2", "n3"):
        join(harness, node)

    emitted = request(harness, 7)  # 400m each: two fit on a 1000m node, so one is left over

    scheduled = listed(emitted)
    assert placed_on(emitted) == {"n1": 2, "n2": 2, "n3": 2}
    per_node = of_type(emitted, events.REPLICA_SCHEDULED)
    assert len(per_node) == 3  # one event per node, listing what it runs
    assert all(
        e["subject"] == e["shoalnode"] == entry["node"]
        for e in per_node
        for entry in e["data"]["replicas"]
    )
    assert per_node[0]["source"] == "/shoal/scheduler"
    first = scheduled[0]
    assert first == {
        "deployment": "web",
        "replica": first["replica"],
        "node": first["node"],
        "image": "127.0.0.1:5000/web:v1",
        "command": ["httpd", "-f", "-p", "$PORT"],
        "env": {"MODE": "test"},
        "resources": {"cpu_millis": 400, "memory_mib": 256},
        "ports": [{"name": "http", "port": 30000}],
    }
    (unschedulable,) = listed(emitted, events.REPLICA_UNSCHEDULABLE)
    assert unschedulable["reason"] == ("0/3 nodes are available: 3 node(s) had insufficient cpu.")
    left_over = harness.replica(unschedulable["replica"])
    assert (left_over.phase, left_over.node) == ("unschedulable", None)
    for node in ("n1", "n2", "n3"):
        record = harness.node(node)
        assert (record.allocated_cpu_millis, record.allocated_memory_mib) == (800, 512)
        assert record.ports == (30000, 30001)
        assert set(harness.allocations(node)) == {
            e["replica"] for e in scheduled if e["node"] == node
        }
    placed = harness.replica(first["replica"])
    assert (placed.phase, placed.node, placed.ports) == ("scheduled", first["node"], (30000,))
    with harness.store.transaction() as tx:
        on_n1 = tx.list(REPLICA, label_selector={"node": "n1"})
    assert len(on_n1) == 2


def test_the_probes_go_to_the_agent_with_the_template(harness: Harness) -> None:
    join(harness, "n1")
    readiness = Probe("http", "http", "/healthz").to_data()
    liveness = Probe("exec", command=("pg_isready",)).to_data()

    startup = Probe("tcp", "http", failure_threshold=30).to_data()

    emitted = request(harness, 1, readiness=readiness, liveness=liveness, startup=startup)

    (entry,) = listed(emitted)
    assert (entry["readiness"], entry["liveness"], entry["startup"]) == (
        readiness,
        liveness,
        startup,
    )
    (unprobed,) = listed(request(harness, 1, first=1))
    assert not {"readiness", "liveness", "startup"} & unprobed.keys()


def test_node_selector_and_free_host_ports_filter_nodes(harness: Harness) -> None:
    join(harness, "a1", cpu=8000, memory=8192, zone="a")
    join(harness, "b1", cpu=8000, memory=8192, zone="b")

    emitted = request(harness, 3, cpu=100, memory=64, ports=2, node_selector={"zone": "a"})

    assert placed_on(emitted) == {"a1": 3}
    ports = [e["ports"] for e in listed(emitted)]
    assert ports[2] == [{"name": "http", "port": 30004}, {"name": "admin", "port": 30005}]
    assert harness.node("a1").ports == tuple(range(30000, 30006))

    emitted = request(harness, 1, "db", cpu=100, memory=64, node_selector={"zone": "c"})

    (refused,) = listed(emitted, events.REPLICA_UNSCHEDULABLE)
    assert refused["reason"] == ("0/2 nodes are available: 2 node(s) didn't match nodeSelector.")


def test_spread_puts_a_deployment_on_every_node_before_doubling_up(harness: Harness) -> None:
    for node in ("n1", "n2", "n3"):
        join(harness, node, cpu=4000, memory=4096)

    assert placed_on(request(harness, 3, cpu=100, memory=64)) == {"n1": 1, "n2": 1, "n3": 1}
    assert placed_on(request(harness, 3, first=3, cpu=100, memory=64)) == {
        "n1": 1,
        "n2": 1,
        "n3": 1,
    }


@pytest.mark.parametrize(
    ("strategy", "placed"),
    [
        # binpack scores the small node higher at every step, even after the spread penalty
        ("binpack", {"small": 4}),
        # spread prefers the emptier big node, until the penalty for doubling up sends one over
        ("spread", {"big": 3, "small": 1}),
    ],
)
def test_the_strategy_decides_between_a_big_and_a_small_node(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, strategy: Strategy, placed: dict[str, int]
) -> None:
    monkeypatch.setattr(scheduler_module, "SETTINGS", SchedulerSettings(strategy=strategy))
    join(harness, "big", cpu=4000, memory=4096)
    join(harness, "small", cpu=1000, memory=1024)

    assert placed_on(request(harness, 4, cpu=200, memory=128, ports=0)) == placed


def test_strategy_comes_from_the_environment() -> None:
    assert SchedulerSettings.from_environ({}).strategy == "spread"
    assert SchedulerSettings.from_environ({"SHOAL_SCHEDULER_STRATEGY": "binpack"}).strategy == (
        "binpack"
    )
    with pytest.raises(ValueError, match="write spread"):
        SchedulerSettings.from_environ({"SHOAL_SCHEDULER_STRATEGY": "random"})


def test_thousands_of_replicas_are_placed_in_one_invocation(harness: Harness) -> None:
    for index in range(50):
        join(harness, f"n{index:02}", cpu=16000, memory=16384)

    emitted = request(harness, 2_000, cpu=100, memory=100, ports=1)

    assert len(listed(emitted)) == 2_000
    assert len(of_type(emitted, events.REPLICA_SCHEDULED)) == 50  # one per node
    assert set(placed_on(emitted).values()) == {40}
    with harness.store.transaction() as tx:
        allocated = [n.body["allocated_cpu_millis"] for n in tx.list(NODE)]
    assert allocated == [4_000] * 50


def test_an_unschedulable_replica_is_placed_when_a_node_joins(harness: Harness) -> None:
    join(harness, "n1")
    emitted = request(harness, 3)
    waiting = listed(emitted, events.REPLICA_UNSCHEDULABLE)[0]["replica"]

    assert harness.tick(scheduler, RETRY_TICK) == []  # nothing changed: no new event
    join(harness, "n2")

    assert harness.replica(waiting).node == "n2"
    with harness.store.transaction() as tx:
        assert tx.list(UNSCHEDULABLE) == []


def test_a_retry_tick_places_what_a_join_left_waiting(harness: Harness) -> None:
    request(harness, 1)  # no nodes at all
    assert harness.replica("web-0").reason == "0/0 nodes are available: no nodes."
    # nodes recorded the node, but its node.joined reached the scheduler first (or never)
    harness.send(
        nodes,
        events.NODE_JOINED,
        {
            "node": "n1",
            "capacity": {"cpu_millis": 1000, "memory_mib": 1024},
            "labels": {},
            "replicas": [],
        },
    )

    emitted = harness.tick(scheduler, RETRY_TICK)

    assert placed_on(emitted) == {"n1": 1}


def test_stopping_a_replica_frees_its_share_for_a_waiting_one(harness: Harness) -> None:
    join(harness, "n1")
    emitted = request(harness, 3)
    placed = [e["replica"] for e in listed(emitted)]
    with harness.store.transaction() as tx:  # deployments may delete the record first
        tx.delete(REPLICA, placed[0])

    emitted = report(harness, events.REPLICA_STOPPED, placed[0], "n1")

    assert [e["replica"] for e in listed(emitted)] == ["web-2"]
    assert set(harness.allocations("n1")) == {placed[1], "web-2"}
    assert report(harness, events.REPLICA_STOPPED, placed[0], "n1") == []  # freed once


def test_lost_frees_and_exited_frees_only_a_replica_that_let_go(harness: Harness) -> None:
    join(harness, "n1")
    request(harness, 2)

    assert report(harness, events.REPLICA_EXITED, "web-0", "n1") == []
    assert set(harness.allocations("n1")) == {"web-0", "web-1"}  # restarts in place
    harness.put_replicas(ReplicaRecord("web-0", "web", "r1", phase="stopped", node="n1"))
    report(harness, events.REPLICA_EXITED, "web-0", "n1")
    report(harness, events.REPLICA_LOST, "web-1", "n1")

    assert harness.allocations("n1") == {}
    assert harness.node("n1").allocated_cpu_millis == 0


def test_a_listed_replica_with_a_node_starts_again_in_place(harness: Harness) -> None:
    join(harness, "n1")
    join(harness, "n2")
    first = of_type(request(harness, 1), events.REPLICA_SCHEDULED)[0]
    node = first["data"]["replicas"][0]["node"]
    harness.put_replicas(
        ReplicaRecord(
            "web-0", "web", "r1", phase="exited", node=node, ports=(30000,), cpu_millis=400,
            memory_mib=256, port_count=1, exit_code=1,
        )
    )  # fmt: skip

    again = of_type(request(harness, 1, create=False), events.REPLICA_SCHEDULED)

    assert [e["data"] for e in again] == [first["data"]]
    assert again[0]["id"] != first["id"]
    assert harness.replica("web-0").phase == "scheduled"
    assert harness.node(node).allocated_cpu_millis == 400


def test_redelivery_and_repeated_requests_place_nothing_twice(harness: Harness) -> None:
    join(harness, "n1", cpu=4000)
    replicas = [ReplicaRecord(f"web-{i}", "web", "r1", cpu_millis=400) for i in range(2)]
    harness.put_replicas(*replicas)
    data = {
        "deployment": "web",
        "revision": "r1",
        "replicas": ["web-0", "web-1", "web-gone"],  # web-gone was stopped meanwhile
        "template": {**TEMPLATE, "ports": []},
        "node_selector": {},
    }

    first = harness.send(scheduler, events.REPLICA_REQUESTED, data, event_id="req-1")
    again = harness.send(scheduler, events.REPLICA_REQUESTED, data, event_id="req-1")

    assert [e["replica"] for e in listed(first)] == ["web-0", "web-1"]
    assert again == first  # the recorded outbox; the handler did not run again
    harness.put_replicas(replace(harness.replica("web-0"), phase="running"))

    later = harness.send(scheduler, events.REPLICA_REQUESTED, data, event_id="req-2")

    # web-1 is still `scheduled` without news: started again in place; web-0 runs: left alone
    assert [(e["replica"], e["node"]) for e in listed(later)] == [("web-1", "n1")]
    assert harness.node("n1").allocated_cpu_millis == 800


def test_resync_gives_back_what_no_replica_holds(harness: Harness) -> None:
    join(harness, "n1")
    request(harness, 3)  # web-2 waits
    with harness.store.transaction() as tx:  # deleted with no event the scheduler saw
        tx.delete(REPLICA, "web-0")

    emitted = harness.tick(scheduler, RESYNC_TICK)

    assert placed_on(emitted) == {"n1": 1}
    assert set(harness.allocations("n1")) == {"web-1", "web-2"}
    assert harness.tick(scheduler, RESYNC_TICK) == []


def test_a_request_without_replica_names_is_dead_lettered(harness: Harness) -> None:
    data = {"deployment": "web", "template": TEMPLATE}

    assert harness.send(scheduler, events.REPLICA_REQUESTED, data, status=422) == []
