from __future__ import annotations

import json
import socket
from collections.abc import Callable
from itertools import count

import pytest

from local_broker.testing import Received, RecordingSink, Reply
from shoal.agent.reports import JsonEvent, Reporter
from shoal.agent.sender import EventSender, retry_delay
from tests.shoal.agent.support import replica

BATCH = "application/cloudevents-batch+json"


def events(number: int) -> list[JsonEvent]:
    reporter = Reporter()
    return [reporter.started(replica(f"web-{index}")) for index in range(number)]


def batch_ids(received: Received) -> list[object]:
    return [event["id"] for event in json.loads(received.body)]


def answers(*statuses: int) -> Callable[[Received], Reply]:
    """A responder answering `statuses` in turn, then 202."""
    turn = count()

    def respond(_received: Received) -> Reply:
        index = next(turn)
        return Reply(statuses[index] if index < len(statuses) else 202)

    return respond


async def test_a_single_event_goes_in_binary_mode() -> None:
    (event,) = events(1)
    async with RecordingSink() as sink:
        sender = EventSender(sink.url, batch=True)
        sender.send(event)
        await sender.start()
        assert await sender.flush(10)
        await sender.close()
    (received,) = sink.received
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert headers["ce-id"] == event["id"]
    assert headers["ce-type"] == "dev.shoal.replica.started"
    assert headers["ce-source"] == "/shoal/agents/n1"
    assert headers["ce-shoalnode"] == "n1"
    assert headers["content-type"] == "application/json"
    assert json.loads(received.body) == event["data"]


async def test_queued_events_go_as_one_batch_in_order() -> None:
    queued = events(5)
    async with RecordingSink() as sink:
        sender = EventSender(sink.url, batch=True)
        for event in queued:
            sender.send(event)
        await sender.start()
        assert await sender.flush(10)
        await sender.close()
    (received,) = sink.received
    assert received.headers["Content-Type"] == BATCH
    assert json.loads(received.body) == queued


async def test_without_batching_each_event_is_its_own_request() -> None:
    queued = events(3)
    async with RecordingSink() as sink:
        sender = EventSender(sink.url, batch=False)
        for event in queued:
            sender.send(event)
        await sender.start()
        assert await sender.flush(10)
        await sender.close()
    assert [r.headers["ce-id"] for r in sink.received] == [e["id"] for e in queued]


async def test_batches_are_bounded_by_count_and_size() -> None:
    queued = events(5)
    size = len(json.dumps(queued[0]))
    async with RecordingSink() as sink:
        by_count = EventSender(sink.url, batch=True, max_batch_events=2)
        by_size = EventSender(sink.url, batch=True, max_batch_bytes=size * 3)
        for sender in (by_count, by_size):
            for event in queued:
                sender.send(event)
            await sender.start()
            assert await sender.flush(10)
            await sender.close()
    sizes = [
        len(json.loads(r.body)) if r.headers["Content-Type"] == BATCH else 1 for r in sink.received
    ]
    assert sizes == [2, 2, 1, 3, 2]


async def test_failed_posts_are_retried_with_the_same_ids() -> None:
    queued = events(2)
    async with RecordingSink(answers(503, 429, 404)) as sink:
        sender = EventSender(sink.url, batch=True)
        for event in queued:
            sender.send(event)
        await sender.start()
        assert await sender.flush(10)
        await sender.close()
    assert len(sink.received) == 4
    assert {tuple(batch_ids(r)) for r in sink.received} == {(queued[0]["id"], queued[1]["id"])}


async def test_refused_events_are_dropped_and_the_queue_moves_on() -> None:
    queued = events(2)
    async with RecordingSink(answers(400)) as sink:
        sender = EventSender(sink.url, batch=False)
        for event in queued:
            sender.send(event)
        await sender.start()
        assert await sender.flush(10)
        await sender.close()
    assert [r.headers["ce-id"] for r in sink.received] == [queued[0]["id"], queued[1]["id"]]


async def test_a_newer_heartbeat_replaces_a_queued_one() -> None:
    reporter = Reporter()
    beats = [reporter.started(replica(f"beat-{index}")) for index in range(3)]
    other = reporter.started(replica("web-1"))
    async with RecordingSink() as sink:
        sender = EventSender(sink.url, batch=True)
        for beat in beats:
            sender.send(beat, supersedes="heartbeat/n1")
        sender.send(other)
        await sender.start()
        assert await sender.flush(10)
        await sender.close()
    (received,) = sink.received
    assert batch_ids(received) == [beats[2]["id"], other["id"]]


async def test_a_newer_heartbeat_keeps_the_queued_one_s_place() -> None:
    reporter = Reporter()
    first = reporter.started(replica("beat-a"))
    other = reporter.started(replica("web-1"))
    newer = reporter.started(replica("beat-b"))
    async with RecordingSink() as sink:
        sender = EventSender(sink.url, batch=True)
        sender.send(first, supersedes="heartbeat/0")
        sender.send(other)
        sender.send(newer, supersedes="heartbeat/0")
        await sender.start()
        assert await sender.flush(10)
        await sender.close()
    (received,) = sink.received
    assert batch_ids(received) == [newer["id"], other["id"]]  # fresh, and still first


async def test_an_unreachable_broker_bounds_flush_and_close() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = EventSender(f"http://127.0.0.1:{port}/default/default", batch=True)
    sender.send(events(1)[0])
    await sender.start()
    assert not await sender.flush(0.3)
    await sender.close(flush_timeout=0.1)


@pytest.mark.parametrize(
    ("attempt", "delay"), [(1, 0.05), (2, 0.1), (3, 0.2), (6, 1.6), (7, 2.0), (100, 2.0)]
)
def test_retry_delay_doubles_up_to_a_cap(attempt: int, delay: float) -> None:
    assert retry_delay(attempt) == pytest.approx(delay)
