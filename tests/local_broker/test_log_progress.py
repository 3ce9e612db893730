"""The event log's reading side: cursors, memory versus disk reads, pruning, dead letters."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local_broker.event import CloudEvent
from local_broker.log import DeadLetter, EventLog, LogInUse

NOW = 1_700_000_000.0


def event(event_id: str, event_type: str = "t.v1") -> CloudEvent:
    attributes = {"specversion": "1.0", "id": event_id, "source": "/tests", "type": event_type}
    return CloudEvent(attributes, event_id.encode())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture(params=["process", "thread"])
async def log(path: Path, request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    opened = EventLog.open(path, retention_seconds=100, writer_process=request.param == "process")
    yield opened
    await opened.close()


async def test_cursors_persist_across_a_reopen(path: Path) -> None:
    log = EventLog.open(path)
    assert log.cursor("ns/a") is None
    log.set_cursor("ns/a", 5)
    log.set_cursor("ns/b", 7)
    log.set_cursor("ns/gone", 1)
    await log.flush_cursors()
    log.set_cursor("ns/b", 9)  # flushed by close()
    log.forget_trigger("ns/gone")
    assert log.cursor("ns/gone") is None
    await log.close()

    reopened = EventLog.open(path)
    assert (reopened.cursor("ns/a"), reopened.cursor("ns/b")) == (5, 9)
    assert reopened.cursor("ns/gone") is None
    await reopened.close()


async def test_a_log_is_open_in_one_process_at_a_time(path: Path) -> None:
    log = EventLog.open(path)
    with pytest.raises(LogInUse, match=rf"open in another broker \(process {os.getpid()}\)"):
        EventLog.open(path)
    await log.close()

    reopened = EventLog.open(path)  # closing gave the lock back
    await reopened.close()


async def test_flush_without_changes_is_free(log: EventLog) -> None:
    commits = log.commits
    await log.flush_cursors()
    assert log.commits == commits


async def test_memory_and_disk_reads_agree(path: Path) -> None:
    log = EventLog.open(path, memory_tail=1000)
    for batch in range(10):
        await log.append([event(f"{batch}-{n}") for n in range(10)], now=NOW + batch)
    from_memory = log.read_after(15, 30)
    from_disk = log.read_range(15, 30)
    await log.close()
    assert [record.seq for record in from_memory] == list(range(16, 46))
    assert from_memory == from_disk

    small = EventLog.open(path, memory_tail=16)  # a fresh open holds nothing in memory
    assert small.read_after(15, 30) == from_disk
    await small.append([event(f"more-{n}") for n in range(20)], now=NOW + 20)
    assert small.read_after(110, 5) == small.read_range(110, 5)  # served from the ring
    assert small.read_after(90, 20) == small.read_range(90, 20)  # straddles it: from disk
    assert small.read_after(120, 5) == []
    assert small.read_after(15, 0) == []
    await small.close()


async def test_read_range_filters_by_exact_type(log: EventLog) -> None:
    await log.append(
        [event("1", "a.created"), event("2", "b.created"), event("3", "a.created")], now=NOW
    )
    assert [r.seq for r in log.read_range(0, 10, type_filter="a.created")] == [1, 3]
    assert [r.seq for r in log.read_range(1, 10, type_filter="a.created")] == [3]
    assert log.read_range(0, 10, type_filter="a") == []
    assert [r.seq for r in log.read_range(0, 2)] == [1, 2]


async def test_read_range_gives_the_newest_oldest_first(log: EventLog) -> None:
    await log.append([event(str(n), "a.v1" if n % 2 else "b.v1") for n in range(1, 11)], now=NOW)
    assert [r.seq for r in log.read_range(0, 3, newest=True)] == [8, 9, 10]
    assert [r.seq for r in log.read_range(0, 3, "a.v1", newest=True)] == [5, 7, 9]
    assert [r.seq for r in log.read_range(6, 100, newest=True)] == [7, 8, 9, 10]
    assert log.read_range(10, 3, newest=True) == []


async def test_prune_respects_cursors_and_retention(log: EventLog) -> None:
    await log.append([event(f"old-{n}") for n in range(10)], now=NOW)  # seq 1-10
    await log.append([event(f"new-{n}") for n in range(10)], now=NOW + 50)  # seq 11-20
    log.set_cursor("ns/fast", 15)
    log.set_cursor("ns/slow", 5)
    later = NOW + 120  # retention 100: the first ten are old enough, the next ten are not

    assert log.prune(now=later) == 5  # held back by the slow trigger
    assert log.read_range(0, 100)[0].seq == 6
    log.set_cursor("ns/slow", 20)
    assert log.prune(now=later) == 5  # held back by the retention
    assert log.prune(now=later + 100) == 5  # held back by the fast trigger
    log.forget_trigger("ns/fast")
    assert log.prune(now=later + 100) == 5
    assert log.read_range(0, 100) == []

    # Sequence numbers are never reused, even once the table is empty and after a reopen.
    assert log.head() == 20
    assert await log.append([event("next")], now=later) == [21]


async def test_prune_without_triggers_keeps_only_the_retention(path: Path) -> None:
    log = EventLog.open(path, retention_seconds=10)
    await log.append([event(str(n)) for n in range(7)], now=NOW)
    await log.append([event("recent")], now=NOW + 60)
    assert await asyncio.to_thread(log.prune, now=NOW + 65) == 7
    assert [record.event.id for record in log.read_range(0, 10)] == ["recent"]
    await log.close()
    reopened = EventLog.open(path)
    assert reopened.head() == 8
    assert await reopened.append([event("after")], now=NOW + 70) == [9]
    await reopened.close()


async def test_prune_deletes_in_chunks(log: EventLog) -> None:
    for batch in range(3):
        await log.append([event(f"{batch}-{n}") for n in range(4000)], now=NOW)
    commits = log.commits
    assert log.prune(now=NOW + 1000) == 12_000
    assert log.commits - commits == 3  # PRUNE_CHUNK is 5,000: three bounded transactions


async def test_dead_letters_are_kept_durably(path: Path) -> None:
    log = EventLog.open(path)
    failed = CloudEvent({"id": "1", "source": "/s", "type": "t", "retries": 3, "ok": False}, b"\0")
    await log.add_dead_letter(DeadLetter("ns/a", failed, "HTTP 500 after 3 attempts", 500, NOW))
    await log.add_dead_letter(DeadLetter("ns/b", event("2"), "connection refused", None, NOW + 1))
    await log.close()

    reopened = EventLog.open(path)
    letters = reopened.dead_letters()
    assert [(d.trigger, d.status, d.at) for d in letters] == [
        ("ns/a", 500, NOW),
        ("ns/b", None, NOW + 1),
    ]
    assert letters[0].event == failed
    assert letters[0].reason == "HTTP 500 after 3 attempts"
    assert letters[0].id < letters[1].id
    assert reopened.dead_letters(limit=1) == letters[:1]
    assert reopened.dead_letters(after_id=letters[0].id) == letters[1:]
    assert reopened.dead_letters(limit=1, newest=True) == letters[1:]
    assert reopened.dead_letters(limit=5, newest=True) == letters
    await reopened.close()
