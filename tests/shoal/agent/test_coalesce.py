"""Coalescing the agent's replica reports into one event per type and window."""

from __future__ import annotations

import asyncio
from itertools import count

from shoal import events
from shoal.agent.coalesce import Coalescer, merged
from shoal.agent.reports import JsonEvent, Reporter
from tests.shoal.agent.support import replica, wait_until

STARTED, STOPPED, EXITED = events.REPLICA_STARTED, events.REPLICA_STOPPED, events.REPLICA_EXITED


class ListSink:
    def __init__(self) -> None:
        self.sent: list[tuple[JsonEvent, str | None]] = []

    def send(self, event: JsonEvent, *, supersedes: str | None = None) -> None:
        self.sent.append((event, supersedes))

    def listed(self) -> list[tuple[object, list[object]]]:
        """(type, replica names) of each event sent."""
        return [
            (event["type"], [entry["replica"] for entry in event["data"]["replicas"]])  # type: ignore[index]
            for event, _ in self.sent
        ]


def reporter() -> Reporter:
    ids = count(1)
    return Reporter(clock=lambda: 1_800_000_000.0, new_id=lambda: f"id-{next(ids)}")


def test_reports_on_several_nodes_merge_into_one_event_named_after_the_agent() -> None:
    reports = reporter()
    one = reports.started(replica("web-1", node="bulk-1"))
    two = reports.started(replica("web-2", node="bulk-2"))

    event = merged([one, two], "bulk")

    assert event["source"] == "/shoal/agents/bulk"
    assert event["id"] == one["id"]
    assert "subject" not in event
    assert events.NODE_EXTENSION not in event
    assert event["data"] == {
        "replicas": [
            {"deployment": "web", "replica": "web-1", "node": "bulk-1", "at": 1_800_000_000.0},
            {"deployment": "web", "replica": "web-2", "node": "bulk-2", "at": 1_800_000_000.0},
        ]
    }


def test_reports_on_one_node_keep_the_node_as_subject() -> None:
    reports = reporter()
    started = [reports.started(replica(f"web-{n}", node="n1")) for n in range(3)]

    event = merged(started, "n1")

    assert (event["subject"], event[events.NODE_EXTENSION]) == ("n1", "n1")
    assert len(event["data"]["replicas"]) == 3  # type: ignore[index]


async def test_a_window_of_reports_goes_out_as_one_event_per_type() -> None:
    sink, reports = ListSink(), reporter()
    coalescer = Coalescer(sink, "bulk", window_seconds=0.01)

    coalescer.send(reports.started(replica("web-1", node="bulk-1")))
    coalescer.send(reports.stopped("bulk-2", "web", "web-9"))
    coalescer.send(reports.started(replica("web-2", node="bulk-2")))
    assert sink.sent == []  # waiting for company
    await wait_until(lambda: len(sink.sent) == 2, what="the window's events")

    assert sink.listed() == [(STARTED, ["web-1", "web-2"]), (STOPPED, ["web-9"])]


async def test_a_replica_s_reports_keep_their_order() -> None:
    sink, reports = ListSink(), reporter()
    coalescer = Coalescer(sink, "n1", window_seconds=60)
    spec = replica("web-1", node="n1")

    coalescer.send(reports.started(spec))
    coalescer.send(reports.exited("n1", "web", "web-1", 1, "Error"))  # sends the started first
    coalescer.send(reports.started(spec))  # started again: sends the exit first
    coalescer.flush()

    assert sink.listed() == [(STARTED, ["web-1"]), (EXITED, ["web-1"]), (STARTED, ["web-1"])]


async def test_a_full_window_goes_out_at_once_and_others_pass_through() -> None:
    sink, reports = ListSink(), reporter()
    coalescer = Coalescer(sink, "n1", window_seconds=60, max_replicas=2)
    heartbeat = reports.heartbeat("n1", [reports.status("n1", replica().resources, [])])

    coalescer.send(reports.started(replica("web-1")))
    coalescer.send(heartbeat, supersedes="heartbeat/n1")
    coalescer.send(reports.started(replica("web-2")))
    await asyncio.sleep(0)

    assert sink.sent[0] == (heartbeat, "heartbeat/n1")
    assert [len(event["data"]["replicas"]) for event, _ in sink.sent[1:]] == [2]  # type: ignore[index]
