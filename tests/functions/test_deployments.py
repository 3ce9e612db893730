"""The deployments function, driven through the runtime with a scripted scheduler and agents."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from shoal import events
from shoal.controllers.deployment_step import REQUEST_TIMEOUT_SECONDS
from shoal.model import REPLICA
from shoal.orchestration.batches import MAX_REPLICAS_PER_REQUEST, shares
from shoal.orchestration.rollout import fencepost_violations, restart_delay
from shoal.orchestration.spec import parse_deployment
from shoal.state import StateStore
from tests.functions.cluster import Cluster, manifest, revision_of


def running(cluster: Cluster, document: dict[str, Any]) -> None:
    """Apply and let the scheduler and agents bring everything up."""
    cluster.apply(document)
    cluster.settle()


def test_apply_creates_every_replica_and_requests_them_in_one_event(cluster: Cluster) -> None:
    document = manifest(constraints={"nodeSelector": {"zone": "a"}})

    emitted = cluster.apply(document)

    (requested,) = emitted
    revision = revision_of(document)
    replicas = cluster.replicas()
    assert requested["type"] == events.REPLICA_REQUESTED
    assert requested["subject"] == "web"
    data = requested["data"]
    assert sorted(data["replicas"]) == [replica.name for replica in replicas]
    assert data == {
        "deployment": "web",
        "revision": revision,
        "replicas": data["replicas"],
        "template": {
            "image": "127.0.0.1:5000/web:v1",
            "command": ["httpd", "-f", "-p", "$PORT"],
            "env": {},
            "resources": {"cpu_millis": 100, "memory_mib": 64},
            "ports": ["http"],
        },
        "node_selector": {"zone": "a"},
    }
    assert len(replicas) == 3
    for replica in replicas:
        assert replica.name.startswith(f"web-{revision[:6]}-")
        assert (replica.phase, replica.node, replica.revision) == ("pending", None, revision)
        assert (replica.cpu_millis, replica.memory_mib, replica.port_count) == (100, 64, 1)
        assert replica.node_selector == {"zone": "a"}
    record = cluster.deployment()
    assert record is not None
    assert (record.revision, record.replicas, record.state) == (revision, 3, "progressing")
    assert [(r.number, r.hash) for r in record.revisions] == [(1, revision)]


def test_replicas_come_up_and_the_status_counts_them(cluster: Cluster) -> None:
    running(cluster, manifest())

    record = cluster.deployment()
    assert record is not None
    assert (record.state, record.ready, record.updated, record.available) == ("complete", 3, 3, 3)
    assert sorted(str(r.node) for r in cluster.replicas()) == ["n1", "n2", "n3"]
    assert {r.phase for r in cluster.replicas()} == {"running"}


def test_an_invalid_spec_is_rejected_with_every_problem(cluster: Cluster) -> None:
    document = manifest(strategy={"maxSurge": "lots"})
    document["spec"]["replicas"] = "3"

    (rejected,) = cluster.apply(document)

    assert rejected["type"] == events.DEPLOYMENT_REJECTED
    assert rejected["subject"] == "web"
    data = rejected["data"]
    assert data["deployment"] == "web"
    assert [problem["path"] for problem in data["problems"]] == [
        "spec.replicas",
        "spec.strategy.maxSurge",
    ]
    assert "write it without quotes: replicas: 3" in data["reason"]
    assert cluster.deployment() is None
    assert cluster.replicas() == []


def test_a_document_without_a_name_is_rejected_without_one(cluster: Cluster) -> None:
    (rejected,) = cluster.send(events.DEPLOYMENT_APPLIED, {"manifest": "replicas: 3"})

    assert "deployment" not in rejected["data"]
    assert "subject" not in rejected


def test_reapplying_the_same_document_changes_nothing(cluster: Cluster) -> None:
    running(cluster, manifest())
    before = (cluster.deployment(), cluster.replicas())

    assert cluster.apply(manifest()) == []
    assert (cluster.deployment(), cluster.replicas()) == before


ROLLOUTS = [
    # (id, replicas, strategy, minReadySeconds)
    ("10 replicas at 25%", 10, {"maxSurge": "25%", "maxUnavailable": "25%"}, 0),
    ("3 replicas at 25%: surge 1, none unavailable", 3, {}, 0),
    ("stop first: maxSurge 0", 4, {"maxSurge": 0, "maxUnavailable": 1}, 0),
    ("start first: maxUnavailable 0", 5, {"maxSurge": 2, "maxUnavailable": 0}, 0),
    ("minReadySeconds", 4, {"maxSurge": 1, "maxUnavailable": 1}, 5),
]


@pytest.mark.parametrize(
    ("replicas", "strategy", "min_ready"),
    [case[1:] for case in ROLLOUTS],
    ids=[case[0] for case in ROLLOUTS],
)
def test_a_rolling_update_never_breaks_the_fenceposts(
    cluster: Cluster, replicas: int, strategy: dict[str, Any], min_ready: int
) -> None:
    old = manifest(replicas=replicas, strategy=strategy, minReadySeconds=min_ready)
    new = manifest("127.0.0.1:5000/web:v2", replicas, strategy=strategy, minReadySeconds=min_ready)
    running(cluster, old)
    for _ in range(3):  # minReadySeconds pass between ticks
        cluster.advance(min_ready or 1)
        cluster.tick()
        cluster.settle()
    cluster.observations.clear()

    cluster.apply(new)
    cluster.settle()
    for _ in range(20):
        cluster.advance(1)
        cluster.tick()
        cluster.settle()

    parsed = parse_deployment(new).strategy
    violations = fencepost_violations(
        cluster.observations,
        replicas,
        parsed.max_surge,
        parsed.max_unavailable,
        min_ready_seconds=min_ready,
    )
    assert violations == []
    assert len(cluster.observations) > 2 * replicas  # every delivery was observed
    record = cluster.deployment()
    assert record is not None
    assert (record.state, record.revision) == ("complete", revision_of(new))
    assert (record.ready, record.updated, record.available) == (replicas, replicas, replicas)
    assert {(r.revision, r.phase) for r in cluster.replicas()} == {(revision_of(new), "running")}
    assert len(cluster.listed(events.REPLICA_STOP_REQUESTED)) == replicas


def test_a_rollout_waiting_on_replicas_steps_on_their_news(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=3))

    cluster.apply(manifest("127.0.0.1:5000/web:v2", 3))
    cluster.settle()  # no ticks: replica events alone drive it

    assert {r.revision for r in cluster.replicas()} == {
        revision_of(manifest("127.0.0.1:5000/web:v2"))
    }


def test_reapplying_an_old_document_reuses_its_revision(cluster: Cluster) -> None:
    v1, v2 = manifest(), manifest("127.0.0.1:5000/web:v2")
    running(cluster, v1)
    running(cluster, v2)

    running(cluster, v1)

    record = cluster.deployment()
    assert record is not None
    assert [(r.number, r.hash) for r in record.revisions] == [
        (2, revision_of(v2)),
        (3, revision_of(v1)),
    ]
    assert {r.revision for r in cluster.replicas()} == {revision_of(v1)}


def test_rollback_takes_the_old_template_and_keeps_the_replicas(cluster: Cluster) -> None:
    v1, v2 = manifest(), manifest("127.0.0.1:5000/web:v2")
    running(cluster, v1)
    running(cluster, v2)
    cluster.send(events.DEPLOYMENT_SCALED, {"deployment": "web", "replicas": 5, "reason": "load"})
    cluster.settle()

    cluster.send(events.DEPLOYMENT_ROLLBACK, {"deployment": "web"})
    cluster.settle()

    record = cluster.deployment()
    assert record is not None
    assert record.revision == revision_of(v1)
    assert record.manifest["spec"] == {**v1["spec"], "replicas": 5}
    assert [r.number for r in record.revisions] == [2, 3]
    assert len(cluster.replicas()) == 5
    assert {r.revision for r in cluster.replicas()} == {revision_of(v1)}

    cluster.send(events.DEPLOYMENT_ROLLBACK, {"deployment": "web", "revision": 2})
    cluster.settle()

    assert {r.revision for r in cluster.replicas()} == {revision_of(v2)}


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ({"deployment": "web", "revision": 9}, "data.revision", "revision 9 is not in the history"),
        ({"deployment": "api"}, "data.deployment", "there is no deployment 'api' to roll back"),
    ],
)
def test_a_rollback_that_cannot_be_done_is_rejected(
    cluster: Cluster, data: dict[str, Any], path: str, fragment: str
) -> None:
    running(cluster, manifest())

    (rejected,) = cluster.send(events.DEPLOYMENT_ROLLBACK, data)

    assert rejected["type"] == events.DEPLOYMENT_REJECTED
    (problem,) = rejected["data"]["problems"]
    assert problem["path"] == path
    assert fragment in problem["message"]


def test_the_revision_history_is_limited(cluster: Cluster) -> None:
    images = [f"127.0.0.1:5000/web:v{n}" for n in range(1, 5)]
    for image in images:
        running(cluster, manifest(image, revisionHistoryLimit=1))

    record = cluster.deployment()
    assert record is not None
    assert [(r.number, parse_deployment(r.manifest).template.image) for r in record.revisions] == [
        (3, images[2]),
        (4, images[3]),
    ]


def test_a_crashing_replica_restarts_in_place_with_back_off(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=1))
    (replica,) = cluster.replicas()

    for restarts, delay in enumerate([10, 20, 40]):
        assert cluster.exit(replica) == []
        (exited,) = cluster.replicas()
        assert (exited.phase, exited.exit_code, exited.restarts) == ("exited", 1, restarts)
        assert (
            exited.restart_at
            == cluster.now.timestamp() + delay
            == restart_delay(restarts) + cluster.now.timestamp()
        )
        cluster.advance(delay - 1)
        assert cluster.tick() == []  # still backing off
        cluster.advance(1)

        (requested,) = cluster.tick()

        assert requested["data"]["replicas"] == [replica.name]
        cluster.settle()
        (replica,) = cluster.replicas()
        assert (replica.phase, replica.node, replica.restarts) == (
            "running",
            exited.node,
            restarts + 1,
        )


def test_the_back_off_is_capped_at_five_minutes(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=1))
    (replica,) = cluster.replicas()
    for _ in range(7):
        cluster.exit(replica)
        cluster.advance(300)
        cluster.tick()
        cluster.settle()
        (replica,) = cluster.replicas()

    cluster.exit(replica)

    (exited,) = cluster.replicas()
    assert exited.restart_at == cluster.now.timestamp() + 300


def test_delete_stops_every_replica_then_removes_the_deployment(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=3))
    cluster.auto_start = False
    cluster.send(events.DEPLOYMENT_SCALED, {"deployment": "web", "replicas": 4, "reason": "x"})
    cluster.pending.clear()  # the fourth is never placed
    placed = {r.name: r.node for r in cluster.replicas() if r.node is not None}

    emitted = cluster.send(events.DEPLOYMENT_DELETED, {"deployment": "web"})

    stops = cluster.of_type(events.REPLICA_STOP_REQUESTED, emitted)
    listed = {r["replica"]: r["node"] for e in stops for r in e["data"]["replicas"]}
    assert listed == placed
    assert len(stops) == len(set(placed.values()))  # one event per node
    assert all(
        (r["node"], e["subject"]) == (e[events.NODE_EXTENSION],) * 2
        for e in stops
        for r in e["data"]["replicas"]
    )
    assert {r.phase for r in cluster.replicas()} == {"stopping"}
    assert len(cluster.replicas()) == 3  # the unplaced one is simply forgotten
    record = cluster.deployment()
    assert record is not None
    assert record.state == "deleting"

    cluster.settle()

    assert cluster.replicas() == []
    assert cluster.deployment() is None


def test_a_tick_asks_again_for_what_got_no_news(cluster: Cluster) -> None:
    cluster.drop = lambda event: event["type"] == events.REPLICA_REQUESTED  # lost on the way
    cluster.apply(manifest())
    cluster.settle()
    cluster.drop = lambda event: False
    assert {r.phase for r in cluster.replicas()} == {"pending"}

    cluster.advance(REQUEST_TIMEOUT_SECONDS - 1)
    assert cluster.tick() == []
    cluster.advance(1)
    (requested,) = cluster.tick()
    cluster.settle()

    assert sorted(requested["data"]["replicas"]) == sorted(r.name for r in cluster.replicas())
    assert {r.phase for r in cluster.replicas()} == {"running"}


def test_a_tick_asks_again_for_a_lost_stop(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=2))
    cluster.drop = lambda event: event["type"] == events.REPLICA_STOP_REQUESTED
    cluster.send(events.DEPLOYMENT_SCALED, {"deployment": "web", "replicas": 1, "reason": "x"})
    cluster.settle()
    cluster.drop = lambda event: False
    (stopping,) = [r for r in cluster.replicas() if r.phase == "stopping"]

    cluster.advance(REQUEST_TIMEOUT_SECONDS)
    (stop,) = cluster.tick()
    cluster.settle()

    assert stop["type"] == events.REPLICA_STOP_REQUESTED
    assert [r["replica"] for r in stop["data"]["replicas"]] == [stopping.name]
    assert len(cluster.replicas()) == 1


def test_a_lost_replica_is_replaced(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=3))
    lost = cluster.replicas()[0]

    emitted = cluster.news(
        events.REPLICA_LOST,
        {"deployment": "web", "replica": lost.name, "node": lost.node, "reason": "node lost"},
        source="/shoal/nodes",
    )
    cluster.settle()

    (requested,) = emitted
    (replacement,) = requested["data"]["replicas"]
    assert replacement != lost.name
    assert sorted(r.name for r in cluster.replicas()) == sorted(
        [replacement, *(r.name for r in cluster.replicas() if r.name != replacement)]
    )
    assert lost.name not in {r.name for r in cluster.replicas()}
    assert len(cluster.replicas()) == 3


def test_scaling_up_and_down(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=2))

    cluster.send(events.DEPLOYMENT_SCALED, {"deployment": "web", "replicas": 5, "reason": "x"})
    cluster.settle()
    assert len(cluster.replicas()) == 5

    emitted = cluster.send(
        events.DEPLOYMENT_SCALED, {"deployment": "web", "replicas": 1, "reason": "x"}
    )
    cluster.settle()

    assert len(cluster.listed(events.REPLICA_STOP_REQUESTED, emitted)) == 4
    assert len(cluster.replicas()) == 1
    record = cluster.deployment()
    assert record is not None
    assert (record.replicas, parse_deployment(record.manifest).replicas) == (1, 1)


def test_a_rollout_past_its_deadline_stalls_once(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=2, progressDeadlineSeconds=60))
    cluster.auto_start = False  # the new revision never starts
    cluster.apply(manifest("127.0.0.1:5000/web:v2", 2, progressDeadlineSeconds=60))
    cluster.settle()

    cluster.advance(60)
    assert cluster.of_type(events.DEPLOYMENT_STALLED, cluster.tick()) == []
    cluster.advance(1)
    (stalled,) = cluster.of_type(events.DEPLOYMENT_STALLED, cluster.tick())
    cluster.advance(1)
    assert cluster.of_type(events.DEPLOYMENT_STALLED, cluster.tick()) == []

    assert stalled["subject"] == "web"
    assert stalled["data"] == {
        "deployment": "web",
        "revision": revision_of(manifest("127.0.0.1:5000/web:v2")),
        "progress_deadline_seconds": 60,
        "replicas": 2,
        "updated": 1,
        "available": 2,
        "reason": "no progress for more than 60s (progressDeadlineSeconds): 1 of 2 replicas "
        "updated, 2 available",
    }
    record = cluster.deployment()
    assert record is not None
    assert record.state == "stalled"


@pytest.mark.parametrize("type_", [events.REPLICA_STARTED, events.REPLICA_EXITED])
def test_a_replica_nobody_wants_is_stopped_where_it_runs(cluster: Cluster, type_: str) -> None:
    data = {"deployment": "web", "replica": "web-abcdef-12345", "node": "n2", "exit_code": 0}

    (stop,) = cluster.news(type_, data, source="/shoal/agents/n2")

    assert stop["type"] == events.REPLICA_STOP_REQUESTED
    assert stop[events.NODE_EXTENSION] == "n2"
    entry = {"deployment": "web", "replica": "web-abcdef-12345", "node": "n2"}
    assert stop["data"] == {"replicas": [entry]}


def test_a_redelivered_event_is_handled_once(cluster: Cluster) -> None:
    event = cluster.event(events.DEPLOYMENT_APPLIED, {"manifest": manifest()})

    first = cluster.deliver(event)
    again = cluster.deliver(copy.deepcopy(event))

    assert again == first  # the recorded outbox, same ids
    assert len(cluster.replicas()) == 3


def test_ten_thousand_replicas_take_one_invocation(cluster: Cluster) -> None:
    cluster.watch = None
    replicas = 10_005

    emitted = cluster.apply(manifest(replicas=replicas))

    assert [len(e["data"]["replicas"]) for e in emitted] == [1251] * 7 + [1248]
    assert len(cluster.replicas()) == replicas
    assert len({name for e in emitted for name in e["data"]["replicas"]}) == replicas


def test_a_large_deployment_is_requested_in_shares_the_scheduler_places_in_turn(
    cluster: Cluster,
) -> None:
    """Regression: 10,000 replicas went out as one `replica.requested`, which the scheduler
    placed in one transaction (about 10 s holding the store's write lock, while no heartbeat
    could be recorded). 30,000 go out as twelve."""
    cluster.watch = None

    emitted = cluster.apply(manifest(replicas=30_000))

    assert len(emitted) == 12
    assert {len(e["data"]["replicas"]) for e in emitted} == {MAX_REPLICAS_PER_REQUEST}
    assert MAX_REPLICAS_PER_REQUEST == 2500


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (0, []),
        (1, [1]),
        (100, [100]),  # a lost node's 100 replicas: one request
        (101, [100, 1]),
        (1_000, [125] * 8),
        (4_000, [500] * 8),
        (10_000, [1250] * 8),
        (30_000, [2500] * 12),
    ],
)
def test_requests_are_shared_out_for_the_scheduler_s_threads(count: int, sizes: list[int]) -> None:
    names = [f"web-{n}" for n in range(count)]

    split = shares(names)

    assert [len(share) for share in split] == sizes
    assert [name for share in split for name in share] == names


def test_a_lost_node_s_replicas_are_requested_in_shares(
    cluster: Cluster, cluster_store: StateStore
) -> None:
    """The 100 replacements of a lost node's replicas are one request (four of 25 read every
    Node four times; their `replica.scheduled` events are one per node, published together);
    200 are two."""
    running(cluster, manifest(replicas=200))
    lost = cluster.replicas()
    with cluster_store.transaction() as tx:  # as nodes marks them, all at once, before the events
        for replica in lost:
            gone = replace(replica, phase="lost", reason="node n1 sent no heartbeat for 3.1 s")
            tx.put(REPLICA, replica.name, gone.to_body(), labels=gone.labels())

    emitted = cluster.news(
        events.REPLICA_LOST,
        *({"deployment": "web", "replica": r.name, "node": "n1", "reason": "lost"} for r in lost),
        source="/shoal/nodes",
    )

    assert [len(e["data"]["replicas"]) for e in emitted] == [100, 100]
    assert not {name for e in emitted for name in e["data"]["replicas"]} & {r.name for r in lost}


def test_a_large_deployment_still_starting_is_not_asked_again_at_30_s(cluster: Cluster) -> None:
    """Regression: under load, the replicas of a 2,000-replica deployment were still
    `scheduled` in deployments' records 30 s after they were requested (their `started` events
    queued behind thousands of others), and each tick asked for them again: 10,514
    `replica.scheduled` for 2,100 replicas."""
    cluster.watch = None
    cluster.drop = lambda event: event["type"] == events.REPLICA_REQUESTED  # news still to come
    cluster.apply(manifest(replicas=1_000))
    cluster.settle()
    cluster.drop = lambda event: False

    cluster.advance(REQUEST_TIMEOUT_SECONDS + 1)
    assert cluster.tick() == []
    cluster.advance(50.0 - REQUEST_TIMEOUT_SECONDS - 1)  # 50 ms per replica
    asked = cluster.tick()

    assert sum(len(e["data"]["replicas"]) for e in asked) == 1_000


def test_a_large_deployment_notes_replica_news_without_a_whole_step(cluster: Cluster) -> None:
    cluster.watch = None
    running(cluster, manifest(replicas=150))
    record = cluster.deployment()
    assert record is not None
    assert not record.blocked
    first, second = cluster.replicas()[:2]

    cluster.advance(1)
    assert cluster.exit(first) == []
    lost = {"deployment": "web", "replica": second.name, "node": second.node, "reason": "node lost"}
    (requested,) = cluster.news(events.REPLICA_LOST, lost, source="/shoal/nodes")

    assert cluster.deployment() == record  # no whole step ran
    assert len(requested["data"]["replicas"]) == 1
    cluster.settle()
    cluster.tick()
    record = cluster.deployment()
    assert record is not None
    assert (len(cluster.replicas()), record.ready, record.state) == (150, 149, "progressing")


def test_started_again_keeps_the_replica_and_a_copy_elsewhere_is_stopped(cluster: Cluster) -> None:
    running(cluster, manifest(replicas=1))
    (replica,) = cluster.replicas()
    other = next(node for node in cluster.nodes if node != replica.node)
    news = {"deployment": "web", "replica": replica.name}
    cluster.advance(5)

    assert cluster.news(events.REPLICA_STARTED, {**news, "node": replica.node}) == []
    (stop,) = cluster.news(events.REPLICA_STARTED, {**news, "node": other})

    assert (stop["type"], stop[events.NODE_EXTENSION]) == (events.REPLICA_STOP_REQUESTED, other)
    assert cluster.replicas() == [replica]  # still ready since it first started


def test_the_status_counts_the_replicas_a_step_creates(cluster: Cluster) -> None:
    """Regression: once deployments stopped taking `replica.scheduled`/`.unschedulable`, the
    status of a deployment nobody placed yet showed 0 updated until the next tick."""
    cluster.apply(manifest(replicas=2))

    record = cluster.deployment()
    assert record is not None
    assert (record.updated, record.ready, record.available) == (2, 0, 0)
