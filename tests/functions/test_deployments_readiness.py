"""deployments with readiness probes: a probed replica counts as ready only on its agent's word."""

from __future__ import annotations

from typing import Any

from shoal import events
from shoal.model import ReplicaRecord
from tests.functions.cluster import Cluster, manifest, revision_of

PROBE = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2}


def probed(image: str = "127.0.0.1:5000/web:v1", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return manifest(image, replicas, readinessProbe=PROBE, **spec)


def news(replica: ReplicaRecord, at: float, **extra: object) -> dict[str, object]:
    return {
        "deployment": replica.deployment,
        "replica": replica.name,
        "node": replica.node,
        "at": at,
        **extra,
    }


def counts(cluster: Cluster) -> tuple[str, int, int]:
    record = cluster.deployment()
    assert record is not None
    return record.state, record.ready, record.available


def test_a_probed_replica_is_ready_only_once_its_agent_says_so(cluster: Cluster) -> None:
    cluster.auto_ready = False

    (requested,) = cluster.apply(probed())
    cluster.settle()

    assert requested["data"]["template"]["readiness"] == {
        "action": "http",
        "path": "/healthz",
        "port": "http",
        "initial_delay_seconds": 0,
        "period_seconds": 2,
        "timeout_seconds": 1,
        "success_threshold": 1,
        "failure_threshold": 3,
    }
    replicas = cluster.replicas()
    assert {(r.phase, r.probed, r.ready_since) for r in replicas} == {("running", True, None)}
    assert counts(cluster) == ("progressing", 0, 0)

    cluster.advance(5)
    at = cluster.now.timestamp()
    cluster.news(events.REPLICA_READY, *(news(replica, at) for replica in replicas))

    assert counts(cluster) == ("complete", 3, 3)
    assert {r.ready_since for r in cluster.replicas()} == {at}


def test_unready_takes_a_replica_out_until_it_is_ready_again(cluster: Cluster) -> None:
    cluster.apply(probed())
    cluster.settle()
    first, *_ = cluster.replicas()
    assert counts(cluster) == ("complete", 3, 3)

    cluster.advance(10)
    failing = "HTTP probe failed with statuscode: 503"
    cluster.news(events.REPLICA_UNREADY, news(first, cluster.now.timestamp(), reason=failing))

    assert counts(cluster)[1:] == (2, 2)
    unready = next(r for r in cluster.replicas() if r.name == first.name)
    assert (unready.phase, unready.ready_since) == ("running", None)
    assert unready.unready_reason == failing

    cluster.advance(10)
    cluster.news(events.REPLICA_READY, news(first, cluster.now.timestamp()))

    assert counts(cluster)[1:] == (3, 3)
    ready = next(r for r in cluster.replicas() if r.name == first.name)
    assert ready.unready_reason is None


def test_readiness_news_older_than_what_is_recorded_is_ignored(cluster: Cluster) -> None:
    cluster.auto_ready = False
    cluster.apply(probed(replicas=1))
    cluster.settle()
    (replica,) = cluster.replicas()
    start = cluster.now.timestamp()

    cluster.news(events.REPLICA_READY, news(replica, start + 20))
    cluster.news(events.REPLICA_UNREADY, news(replica, start + 10))  # sent earlier, came late

    (noted,) = cluster.replicas()
    assert noted.ready_since is not None
    assert noted.readiness_at == start + 20
    assert counts(cluster)[1] == 1


def test_a_ready_that_overtakes_its_started_says_the_replica_runs(cluster: Cluster) -> None:
    cluster.auto_start = False
    cluster.apply(probed(replicas=1))
    cluster.settle()
    (scheduled,) = cluster.replicas()
    assert scheduled.phase == "scheduled"

    cluster.news(events.REPLICA_READY, news(scheduled, cluster.now.timestamp()))
    (ready,) = cluster.replicas()
    cluster.advance(3)
    started = {"deployment": "web", "replica": scheduled.name, "node": scheduled.node}
    cluster.news(events.REPLICA_STARTED, started)

    (replica,) = cluster.replicas()
    assert replica.phase == "running"
    assert replica.ready_since == ready.ready_since is not None  # the late `started` keeps it


def test_readiness_from_a_run_that_exited_is_ignored(cluster: Cluster) -> None:
    cluster.apply(probed(replicas=1))
    cluster.settle()
    (replica,) = cluster.replicas()
    cluster.exit(replica)

    cluster.news(events.REPLICA_READY, news(replica, cluster.now.timestamp() + 1))

    (exited,) = cluster.replicas()
    assert (exited.phase, exited.ready_since) == ("exited", None)


def test_readiness_of_a_replica_nobody_wants_stops_it_where_it_runs(cluster: Cluster) -> None:
    gone = {"deployment": "web", "replica": "web-000000-gone", "node": "n2", "at": 1.0}

    emitted = cluster.news(events.REPLICA_READY, gone)

    assert cluster.listed(events.REPLICA_STOP_REQUESTED, emitted) == [
        {"deployment": "web", "replica": "web-000000-gone", "node": "n2"}
    ]


def test_a_rolling_update_waits_for_new_replicas_to_be_ready(cluster: Cluster) -> None:
    strategy = {"maxSurge": 1, "maxUnavailable": 0}
    cluster.apply(probed(strategy=strategy))
    cluster.settle()
    old, new = revision_of(probed()), revision_of(probed("127.0.0.1:5000/web:v2"))
    cluster.auto_ready = False

    cluster.apply(probed("127.0.0.1:5000/web:v2", strategy=strategy))
    cluster.settle()
    for _ in range(3):  # time passes, ticks come: nothing moves while the new one is not ready
        cluster.advance(2)
        cluster.tick()
        cluster.settle()

    by_revision = sorted((r.revision, r.phase) for r in cluster.replicas())
    assert by_revision == sorted([(old, "running")] * 3 + [(new, "running")])
    assert cluster.listed(events.REPLICA_STOP_REQUESTED) == []

    for _ in range(10):  # each new replica's `ready` lets the rollout take one step
        waiting = [r for r in cluster.replicas() if r.revision == new and r.ready_since is None]
        if not waiting:
            break
        cluster.advance(1)
        at = cluster.now.timestamp()
        cluster.news(events.REPLICA_READY, *(news(replica, at) for replica in waiting))
        cluster.settle()

    assert {(r.revision, r.phase) for r in cluster.replicas()} == {(new, "running")}
    assert counts(cluster) == ("complete", 3, 3)


def test_a_template_without_a_probe_is_ready_when_started(cluster: Cluster) -> None:
    cluster.auto_ready = False

    cluster.apply(manifest())
    cluster.settle()

    assert {(r.probed, r.ready_since is not None) for r in cluster.replicas()} == {(False, True)}
    assert counts(cluster) == ("complete", 3, 3)


def test_a_new_run_or_an_exit_forgets_why_the_probe_failed(cluster: Cluster) -> None:
    cluster.apply(probed(replicas=1))
    cluster.settle()
    (replica,) = cluster.replicas()
    cluster.advance(1)
    cluster.news(events.REPLICA_UNREADY, news(replica, cluster.now.timestamp()))
    (unready,) = cluster.replicas()
    assert unready.unready_reason == "its readiness probe failed"  # the agent gave no reason

    cluster.exit(replica)

    (exited,) = cluster.replicas()
    assert (exited.phase, exited.unready_reason) == ("exited", None)


def test_readiness_news_of_an_earlier_run_is_ignored_once_a_new_run_started(
    cluster: Cluster,
) -> None:
    cluster.auto_ready = False
    cluster.apply(probed(replicas=1))
    cluster.settle()
    (replica,) = cluster.replicas()
    start = cluster.now.timestamp()
    cluster.news(events.REPLICA_READY, news(replica, start + 1))  # the first run was ready
    exit_entry = {**news(replica, start + 5), "exit_code": 1, "reason": "exited with code 1"}
    cluster.news(events.REPLICA_EXITED, exit_entry)
    (exited,) = cluster.replicas()
    assert (exited.phase, exited.readiness_at) == ("exited", start + 5)

    cluster.news(events.REPLICA_STARTED, news(replica, start + 20))  # run two
    cluster.news(events.REPLICA_READY, news(replica, start + 1))  # run one's, redelivered late
    (late,) = cluster.replicas()
    cluster.news(events.REPLICA_READY, news(replica, start + 22))  # run two's
    (ready,) = cluster.replicas()

    assert (late.phase, late.ready_since, late.readiness_at) == ("running", None, start + 20)
    assert (ready.ready_since, ready.readiness_at) == (cluster.now.timestamp(), start + 22)


def test_readiness_said_again_writes_and_decides_nothing(cluster: Cluster) -> None:
    cluster.apply(probed(replicas=1))
    cluster.settle()
    (before,) = cluster.replicas()
    stepped = cluster.deployment()
    cluster.advance(30)

    emitted = cluster.news(events.REPLICA_READY, news(before, cluster.now.timestamp()))

    assert emitted == []
    (after,) = cluster.replicas()
    assert after == before
    assert cluster.deployment() == stepped  # no whole reconcile (it would move stepped_at)


def test_an_unready_said_again_makes_good_one_that_was_lost(cluster: Cluster) -> None:
    cluster.apply(probed(replicas=1))
    cluster.settle()
    (replica,) = cluster.replicas()
    assert counts(cluster)[1] == 1
    cluster.drop = lambda event: event["type"] == events.REPLICA_UNREADY
    cluster.advance(10)
    cluster.agent_report(
        events.REPLICA_UNREADY, "web", replica.name, replica.node, at=cluster.now.timestamp()
    )
    cluster.settle()  # the broker gave up on it
    assert counts(cluster)[1] == 1

    cluster.drop = lambda event: False
    cluster.advance(5)  # the agent's next full heartbeat says it again
    failing = "HTTP probe failed with statuscode: 503"
    cluster.news(events.REPLICA_UNREADY, news(replica, cluster.now.timestamp(), reason=failing))

    assert counts(cluster)[1:] == (0, 0)


def test_with_only_a_startup_probe_a_replica_waits_for_its_agent_s_word(cluster: Cluster) -> None:
    cluster.auto_ready = False
    document = manifest(replicas=1, startupProbe={"tcpSocket": {"port": "http"}})

    (requested,) = cluster.apply(document)
    cluster.settle()

    assert requested["data"]["template"]["startup"] == {
        "action": "tcp",
        "port": "http",
        "initial_delay_seconds": 0,
        "period_seconds": 10,
        "timeout_seconds": 1,
        "success_threshold": 1,
        "failure_threshold": 3,
    }
    (replica,) = cluster.replicas()
    assert (replica.phase, replica.probed, replica.ready_since) == ("running", True, None)
    cluster.news(events.REPLICA_READY, news(replica, cluster.now.timestamp() + 1))
    assert counts(cluster) == ("complete", 1, 1)
