"""Reading the broker's event log, and replaying a deployment's replicas from it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from local_broker.testing import running_broker
from shoal import events
from shoal.orchestration.quantity import Percent
from shoal.orchestration.rollout import Replica, fencepost_violations
from shoal.platform.eventlog import EventLogReader, LoggedEvent, news_of, replica_history
from shoal.platform.harness import post_event


def logged(seq: int, event_type: str, **data: object) -> LoggedEvent:
    return LoggedEvent(seq, float(seq), event_type, "/test", f"e{seq}", None, data)


def requested(seq: int, revision: str, *names: str, deployment: str = "web") -> LoggedEvent:
    return logged(
        seq, events.REPLICA_REQUESTED, deployment=deployment, revision=revision, replicas=[*names]
    )


def news(seq: int, event_type: str, *names: str, deployment: str = "web") -> LoggedEvent:
    listed = [{"deployment": deployment, "replica": name, "node": "n1"} for name in names]
    return logged(seq, event_type, replicas=listed)


def test_an_event_listing_many_replicas_changes_each_of_its_deployment() -> None:
    started = LoggedEvent(
        2,
        2.0,
        events.REPLICA_STARTED,
        "/shoal/agents/bulk",
        "e2",
        None,
        {
            "replicas": [
                {"deployment": "web", "replica": "a", "node": "n1"},
                {"deployment": "api", "replica": "x", "node": "n2"},
                {"deployment": "web", "replica": "b", "node": "n2"},
            ]
        },
    )

    history = replica_history([requested(1, "v1", "a", "b"), started], "web")

    assert [len(news_of(started, name)) for name in ("web", "api", "db")] == [2, 1, 0]
    assert history[-1].replicas == (
        Replica("a", "v1", "running", 2.0),
        Replica("b", "v1", "running", 2.0),
    )


def test_a_replica_lives_from_its_request_to_its_stop() -> None:
    history = replica_history(
        [
            requested(1, "v1", "a", "b"),
            news(2, events.REPLICA_STARTED, "a"),
            news(3, events.REPLICA_STOP_REQUESTED, "b"),
            news(4, events.REPLICA_STARTED, "b"),  # overtaken by its stop: still stopping
            news(5, events.REPLICA_STOPPED, "b"),
            news(6, events.REPLICA_EXITED, "a"),
        ],
        "web",
    )

    assert [observed.now for observed in history] == [1.0, 2.0, 3.0, 5.0, 6.0]  # 4 changed nothing
    assert history[1].replicas == (
        Replica("a", "v1", "running", 2.0),
        Replica("b", "v1", "pending"),
    )
    assert history[2].replicas[1] == Replica("b", "v1", "stopping")
    assert history[3].replicas == (Replica("a", "v1", "running", 2.0),)
    assert history[4].replicas == (Replica("a", "v1", "pending"),)


def test_other_deployments_repeated_requests_and_late_news_change_nothing() -> None:
    history = replica_history(
        [
            requested(1, "v1", "a"),
            requested(2, "v9", "x", deployment="api"),
            news(3, events.REPLICA_STARTED, "a"),
            news(4, events.REPLICA_STARTED, "a"),  # reported again: ready since the first
            requested(5, "v1", "a"),  # asked again: the same replica
            news(6, events.REPLICA_LOST, "a"),
            news(7, events.REPLICA_STARTED, "a"),  # gone: late news does not revive it
            requested(8, "v1", "a"),
        ],
        "web",
    )

    assert [observed.now for observed in history] == [1.0, 3.0, 4.0, 5.0, 6.0, 8.0]
    assert [len(observed.replicas) for observed in history] == [1, 1, 1, 1, 0, 0]
    assert history[3].replicas == (Replica("a", "v1", "running", 3.0),)


def rollout(*, stop_before_started: bool) -> list[LoggedEvent]:
    """Two replicas of v1 replaced by v2 with maxSurge 1, maxUnavailable 0."""
    steps = [
        requested(1, "v1", "a", "b"),
        news(2, events.REPLICA_STARTED, "a"),
        news(3, events.REPLICA_STARTED, "b"),
        requested(4, "v2", "c"),
    ]
    if stop_before_started:  # a controller that stops an old one before the new one runs
        steps += [news(5, events.REPLICA_STOP_REQUESTED, "a"), news(6, events.REPLICA_STARTED, "c")]
    else:
        steps += [news(5, events.REPLICA_STARTED, "c"), news(6, events.REPLICA_STOP_REQUESTED, "a")]
    return [
        *steps,
        news(7, events.REPLICA_STOPPED, "a"),
        requested(8, "v2", "d"),
        news(9, events.REPLICA_STARTED, "d"),
        news(10, events.REPLICA_STOP_REQUESTED, "b"),
        news(11, events.REPLICA_STOPPED, "b"),
    ]


@pytest.mark.parametrize(("stop_before_started", "broken"), [(False, 0), (True, 1)])
def test_the_replay_finds_a_broken_fencepost(stop_before_started: bool, broken: int) -> None:
    history = replica_history(rollout(stop_before_started=stop_before_started), "web")

    violations = fencepost_violations(history, 2, 1, 0)

    assert len(violations) == broken
    assert max(len(observed.replicas) for observed in history) == 3  # the surge of one
    assert fencepost_violations(history, 2, Percent(50), 0) == violations


async def test_the_reader_pages_through_each_type_and_reads_a_consistent_prefix(
    tmp_path: Path,
) -> None:
    async with running_broker(tmp_path) as broker:
        ingress = broker.ingress_url()

        def post(event_type: str, data: Mapping[str, object]) -> None:
            replica = data.get("replica")
            post_event(ingress, event_type, data, subject=None if replica is None else str(replica))

        def post_many() -> None:
            post(events.REPLICA_REQUESTED, {"deployment": "web", "replicas": ["a"]})
            for n in range(3):
                post(events.REPLICA_STARTED, {"deployment": "web", "replica": f"r{n}"})
            post(events.NODE_HEARTBEAT, {"node": "n1"})

        await asyncio.to_thread(post_many)
        reader = EventLogReader(broker.url)
        types = (events.REPLICA_REQUESTED, events.REPLICA_STARTED)

        fresh = await asyncio.to_thread(reader.read, types)
        again = await asyncio.to_thread(reader.read, types)

    assert [event.type for event in fresh] == [events.REPLICA_REQUESTED] + 3 * [
        events.REPLICA_STARTED
    ]
    assert [event.seq for event in fresh] == sorted(event.seq for event in fresh)
    assert fresh[1].subject == "r0"
    assert fresh[1].data == {"deployment": "web", "replica": "r0"}
    assert fresh[0].arrival > 0
    assert again == []
    assert reader.events(types) == fresh
    assert reader.events([events.NODE_HEARTBEAT]) == []  # never read: nothing to show
