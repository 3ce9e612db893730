"""The autoscaler: HPA on ticks, from the utilisation agents report in heartbeats."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from functions.autoscaler import AUTOSCALER, TICK, autoscaler
from functions.nodes import nodes
from shoal import events
from shoal.model import DEPLOYMENT, DeploymentRecord, ReplicaRecord
from shoal.model.replica import Phase

from .harness import BACKENDS, Harness, JsonEvent, opened_store


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with opened_store(request.param, tmp_path) as store:
        yield Harness(store)


def deployment(harness: Harness, replicas: int, *, autoscale: bool = True) -> None:
    """The Deployment record as deployments keeps it, target 50 % of 100m, 1 to 10 replicas."""
    spec: dict[str, object] = {
        "replicas": replicas,
        "image": "web:v1",
        "resources": {"cpu": "100m"},
    }
    if autoscale:
        spec["autoscale"] = {"minReplicas": 1, "maxReplicas": 10, "targetCPUUtilization": 50}
    manifest = {
        "apiVersion": "shoal.dev/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": spec,
    }
    record = DeploymentRecord("web", manifest, revision="r1", replicas=replicas)
    with harness.store.transaction() as tx:
        tx.put(DEPLOYMENT, "web", record.to_body())


def replicas(
    harness: Harness,
    count: int,
    phase: Phase = "running",
    first: int = 0,
    *,
    probed_ready: bool | None = None,
) -> None:
    """`count` replicas; with `probed_ready`, ones with a readiness probe, passed or not."""
    names = [f"web-{i}" for i in range(first, first + count)]
    probed = probed_ready is not None
    ready_since = 1.0 if probed_ready else None
    harness.put_replicas(
        *(
            ReplicaRecord(
                name, "web", "r1", phase=phase, node="n1", probed=probed, ready_since=ready_since
            )
            for name in names
        )
    )


def heartbeat(harness: Harness, utilization: Mapping[str, int]) -> None:
    """n1's agent reports each replica's cpu utilisation; nodes records it."""
    data = {
        "node": "n1",
        "capacity": {"cpu_millis": 4000, "memory_mib": 4096},
        "allocated": {"cpu_millis": 0, "memory_mib": 0},
        "usage": {"cpu_millis": 0, "memory_mib": 0},
        "replicas": [
            {
                "deployment": "web",
                "replica": name,
                "cpu_millis": percent,
                "memory_mib": 10,
                "cpu_utilization": percent,
                "started_at": "2026-05-01T12:00:00Z",
            }
            for name, percent in utilization.items()
        ],
    }
    harness.send(nodes, events.NODE_HEARTBEAT, {"nodes": [data]}, source="/shoal/agents/n1")


def at(count: int, percent: int, first: int = 0) -> dict[str, int]:
    return {f"web-{i}": percent for i in range(first, first + count)}


def scaled(emitted: list[JsonEvent]) -> list[tuple[int, str]]:
    assert all(e["type"] == events.DEPLOYMENT_SCALED and e["subject"] == "web" for e in emitted)
    return [(e["data"]["replicas"], e["data"]["reason"]) for e in emitted]


def test_busy_replicas_scale_the_deployment_up(harness: Harness) -> None:
    deployment(harness, 2)
    replicas(harness, 2)
    heartbeat(harness, at(2, 100))

    emitted = harness.tick(autoscaler, TICK)

    assert scaled(emitted) == [(4, "CPU above target asks for 4")]
    assert emitted[0]["data"]["deployment"] == "web"
    with harness.store.transaction() as tx:
        kept = tx.get(AUTOSCALER, "web")
    assert kept is not None
    assert kept.body["replicas"] == 4
    assert kept.body["recommendations"] == [[harness.clock.timestamp(), 4]]
    assert kept.body["scale_ups"] == [[harness.clock.timestamp(), 2]]


def test_within_the_tolerance_nothing_changes(harness: Harness) -> None:
    deployment(harness, 4)
    replicas(harness, 4)
    heartbeat(harness, at(4, 54))  # 54 / 50 = 1.08

    assert harness.tick(autoscaler, TICK) == []


def test_a_dip_scales_down_only_after_the_stabilization_window(harness: Harness) -> None:
    deployment(harness, 4)
    replicas(harness, 4)
    heartbeat(harness, at(4, 50))
    assert harness.tick(autoscaler, TICK) == []  # recommends 4
    harness.clock.advance(15)
    heartbeat(harness, at(4, 10))  # now 1 would do

    assert harness.tick(autoscaler, TICK) == []
    harness.clock.advance(284)
    heartbeat(harness, at(4, 10))
    assert harness.tick(autoscaler, TICK) == []  # 4 was recommended 299 s ago
    harness.clock.advance(1)
    heartbeat(harness, at(4, 10))

    assert scaled(harness.tick(autoscaler, TICK)) == [
        (1, "CPU below target asks for 1; highest in the window is 1")
    ]


def test_a_scale_up_is_limited_per_period_and_capped(harness: Harness) -> None:
    deployment(harness, 1)
    replicas(harness, 1)
    heartbeat(harness, at(1, 1000))

    assert scaled(harness.tick(autoscaler, TICK)) == [
        (5, "CPU above target asks for 20; scale-up limited to 5 this period")
    ]
    deployment(harness, 5)  # deployments applied it
    replicas(harness, 4, first=1)
    heartbeat(harness, at(5, 1000))
    harness.clock.advance(14)

    assert harness.tick(autoscaler, TICK) == []  # the period of the last scale-up still runs
    harness.clock.advance(1)
    assert scaled(harness.tick(autoscaler, TICK)) == [
        (10, "CPU above target asks for 100; scale-up limited to 10 this period")
    ]
    deployment(harness, 8)
    replicas(harness, 3, first=5)
    heartbeat(harness, at(8, 1000))
    harness.clock.advance(15)

    assert scaled(harness.tick(autoscaler, TICK)) == [
        (10, "CPU above target asks for 160; scale-up limited to 16 this period; "
             "capped at maxReplicas")
    ]  # fmt: skip


def test_replicas_not_started_yet_damp_a_scale_up(harness: Harness) -> None:
    deployment(harness, 4)
    replicas(harness, 2)
    replicas(harness, 1, "pending", first=2)
    replicas(harness, 1, "scheduled", first=3)
    heartbeat(harness, at(2, 100))  # (100 + 100 + 0 + 0) / 4 = 50: on target

    assert harness.tick(autoscaler, TICK) == []


@pytest.mark.parametrize(
    ("passed", "expected"), [(True, [(8, "CPU above target asks for 8")]), (False, [])]
)
def test_replicas_failing_their_readiness_probe_damp_a_scale_up(
    harness: Harness, passed: bool, expected: list[tuple[int, str]]
) -> None:
    deployment(harness, 4)
    replicas(harness, 2, probed_ready=True)
    replicas(harness, 2, first=2, probed_ready=passed)
    heartbeat(harness, at(4, 100))  # unready ones count as 0 on a scale-up: (2 x 100) / 4 = 50

    assert scaled(harness.tick(autoscaler, TICK)) == expected


def test_missing_metrics_keep_the_count(harness: Harness) -> None:
    deployment(harness, 3)
    replicas(harness, 3)
    replicas(harness, 2, "lost", first=3)  # left out, as HPA leaves out failed pods
    heartbeat(harness, {})

    assert harness.tick(autoscaler, TICK) == []
    with harness.store.transaction() as tx:
        kept = tx.get(AUTOSCALER, "web")
    assert kept is not None
    assert kept.body["reason"] == "no CPU metrics from ready replicas"


def test_a_deployment_that_stops_autoscaling_loses_its_record(harness: Harness) -> None:
    deployment(harness, 2)
    replicas(harness, 2)
    heartbeat(harness, at(2, 50))
    harness.tick(autoscaler, TICK)
    deployment(harness, 2, autoscale=False)

    assert harness.tick(autoscaler, TICK) == []
    with harness.store.transaction() as tx:
        assert tx.list(AUTOSCALER) == []
