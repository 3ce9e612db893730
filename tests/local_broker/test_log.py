"""The durable event log against real SQLite files: round trips, group commit, dedup, close."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local_broker.event import CloudEvent
from local_broker.log import EventLog, LogClosed, LogCorrupt, LogError
from local_broker.logschema import MIGRATIONS, connect
from local_broker.logwrites import SWEEP_CHUNK, DedupIndex

NOW = 1_700_000_000.0


def event(event_id: str, source: str = "/tests", **extra: str | int | bool) -> CloudEvent:
    attributes = {"specversion": "1.0", "id": event_id, "source": source, "type": "t.v1", **extra}
    return CloudEvent(attributes, f"data of {event_id}".encode())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "brokers" / "default" / "events.db"  # directories do not exist yet


@pytest.fixture(params=["process", "thread"])
async def log(path: Path, request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    opened = EventLog.open(path, writer_process=request.param == "process")
    yield opened
    await opened.close()


async def test_round_trip_keeps_attribute_types_and_bytes_exactly(path: Path) -> None:
    attributes: dict[str, str | int | bool] = {
        "specversion": "1.0",
        "id": "ünïcode-✓-\U0001f41f",
        "source": "/tests",
        "type": "t.v1",
        "count": 0,
        "big": -(2**53) - 1,
        "flag": True,
        "off": False,
        "numeric": "42",
        "boolean": "true",
    }
    binary = CloudEvent(attributes, bytes(range(256)) * 4)
    empty = CloudEvent({**attributes, "id": "empty"}, b"")
    no_data = CloudEvent({**attributes, "id": "none"}, None)
    log = EventLog.open(path)
    assert await log.append([binary, empty, no_data], now=NOW) == [1, 2, 3]
    from_memory = log.read_after(0, 10)
    await log.close()
    reopened = EventLog.open(path)
    from_disk = reopened.read_after(0, 10)
    await reopened.close()

    for records in (from_memory, from_disk):
        assert [record.event for record in records] == [binary, empty, no_data]
        assert [record.arrival for record in records] == [NOW] * 3
        for name, value in records[0].event.attributes.items():
            assert type(value) is type(attributes[name]), name
        assert records[1].event.data == b""
        assert records[2].event.data is None


async def test_memory_tail_holds_a_copy_not_the_callers_mapping(log: EventLog) -> None:
    attributes: dict[str, str | int | bool] = {"id": "1", "source": "/s", "type": "t"}
    await log.append([CloudEvent(attributes)], now=NOW)
    attributes["type"] = "changed"
    assert log.read_after(0, 1)[0].event.type == "t"


async def test_sequence_numbers_increase_without_gaps(log: EventLog) -> None:
    assert log.head() == 0
    assert await log.append([event("a"), event("b")], now=NOW) == [1, 2]
    assert await log.append([], now=NOW) == []
    assert await log.append([event("c")], now=NOW) == [3]
    assert log.head() == 3
    assert [record.seq for record in log.read_after(0, 10)] == [1, 2, 3]
    assert [record.event.id for record in log.read_after(1, 1)] == ["b"]


async def test_concurrent_appends_share_commits(log: EventLog) -> None:
    async def appender(task: int) -> list[int | None]:
        sequences: list[int | None] = []
        for n in range(10):
            sequences += await log.append([event(f"{task}-{n}")], now=NOW)
        return sequences

    commits_before = log.commits
    per_task = await asyncio.gather(*(appender(task) for task in range(200)))

    numbered = [[seq for seq in sequences if seq is not None] for sequences in per_task]
    assert sorted(seq for sequences in numbered for seq in sequences) == list(range(1, 2001))
    assert all(sequences == sorted(sequences) for sequences in numbered)  # each task in order
    commits = log.commits - commits_before
    assert commits < 2000 / 4, f"{commits} transactions for 2000 appends: no group commit"


async def test_invalid_events_fail_alone(log: EventLog) -> None:
    with pytest.raises(ValueError, match="'id'"):
        await log.append([CloudEvent({"source": "/s", "type": "t"})], now=NOW)
    with pytest.raises(ValueError, match="not valid Unicode"):
        await log.append([event("x", source="/s\ud800")], now=NOW)
    assert await log.append([event("fine")], now=NOW) == [1]


async def test_duplicates_within_the_window_are_not_stored(log: EventLog) -> None:
    assert await log.append([event("a"), event("a"), event("a", source="/other")], now=NOW) == [
        1,
        None,
        2,
    ]
    assert await log.append([event("a")], now=NOW + 599) == [None]
    assert [record.event.source for record in log.read_after(0, 10)] == ["/tests", "/other"]


async def test_a_duplicate_is_caught_across_statement_chunks_and_after_a_refresh(
    path: Path,
) -> None:
    log = EventLog.open(path, dedup_window_seconds=60)
    # 300 events: the dedup upsert writes 256 rows per statement, so the last one, a repeat of
    # the first, is checked by the second statement against the row the first one wrote.
    batch = [event(str(n)) for n in range(299)] + [event("0")]
    assert await log.append(batch, now=NOW) == [*range(1, 300), None]
    # An expired key is admitted again once, even when it comes twice in one append.
    assert await log.append([event("0"), event("0")], now=NOW + 61) == [300, None]
    await log.close()


async def test_racing_duplicates_store_one(log: EventLog) -> None:
    results = await asyncio.gather(*(log.append([event("same")], now=NOW) for _ in range(50)))
    assert sorted(results, key=lambda r: r[0] is None) == [[1]] + [[None]] * 49
    assert log.head() == 1


async def test_dedup_survives_a_reopen(path: Path) -> None:
    log = EventLog.open(path, dedup_window_seconds=60)
    await log.append([event("a")], now=NOW)
    await log.close()
    reopened = EventLog.open(path, dedup_window_seconds=60)
    assert await reopened.append([event("a"), event("b")], now=NOW + 30) == [None, 2]
    await reopened.close()


async def test_dedup_ends_with_the_window(path: Path) -> None:
    log = EventLog.open(path, dedup_window_seconds=60)
    await log.append([event("a")], now=NOW)
    assert await log.append([event("a")], now=NOW + 60) == [None]  # the window is inclusive
    assert await log.append([event("a")], now=NOW + 61) == [2]
    assert await log.append([event("a")], now=NOW + 62) == [None]  # the window restarts
    # Expired keys are swept from the index as appends go by.
    await log.append([event("b")], now=NOW + 1000)
    await log.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT source, id FROM dedup").fetchall() == [("/tests", "b")]


async def test_zero_window_turns_dedup_off(path: Path) -> None:
    log = EventLog.open(path, dedup_window_seconds=0)
    assert await log.append([event("a"), event("a")], now=NOW) == [1, 2]
    await log.close()


async def test_close_commits_appends_already_queued(path: Path) -> None:
    log = EventLog.open(path)
    appends = [asyncio.create_task(log.append([event(str(n))], now=NOW)) for n in range(500)]
    await asyncio.sleep(0)  # every task has queued its append
    await log.close()
    assert sorted(seq or 0 for task in appends for seq in task.result()) == list(range(1, 501))
    with pytest.raises(LogClosed):
        await log.append([event("late")], now=NOW)
    with pytest.raises(LogClosed):
        log.read_range(0, 10)
    await log.close()  # closing twice is harmless
    reopened = EventLog.open(path)
    assert reopened.head() == 500
    assert len(reopened.read_after(0, 1000)) == 500
    await reopened.close()


async def test_wait_beyond_wakes_every_waiter(log: EventLog) -> None:
    waiters = [asyncio.create_task(log.wait_beyond(0)) for _ in range(1000)]
    await asyncio.sleep(0.05)
    assert not any(waiter.done() for waiter in waiters)
    await log.append([event("a")], now=NOW)
    await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)
    await asyncio.wait_for(log.wait_beyond(0), timeout=1)  # already beyond: returns at once


async def test_wait_beyond_returns_when_the_log_closes(path: Path) -> None:
    log = EventLog.open(path)
    waiter = asyncio.create_task(log.wait_beyond(5))
    await asyncio.sleep(0.01)
    await log.close()
    await asyncio.wait_for(waiter, timeout=1)


async def test_new_file_gets_the_current_schema_version(path: Path) -> None:
    log = EventLog.open(path)
    await log.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_newer_schema_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(LogCorrupt, match="newer than this broker") as raised:
        EventLog.open(path)
    assert not raised.value.retryable


def test_a_file_that_is_not_a_database_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"definitely not SQLite " * 1000)
    with pytest.raises(LogCorrupt):
        EventLog.open(path)


def test_expired_dedup_keys_are_swept_in_bounded_chunks(tmp_path: Path) -> None:
    conn = connect(tmp_path / "sweep.db", writer=True)
    expired = [("/s", str(n), float(n)) for n in range(SWEEP_CHUNK + 5)]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO dedup (source, id, accepted_at) VALUES (?, ?, ?)", expired)
    conn.execute("COMMIT")
    index = DedupIndex(window_seconds=10)
    index.sweep_if_due(conn, now=NOW)
    assert conn.execute("SELECT count(*) FROM dedup").fetchone() == (5,)
    index.sweep_if_due(conn, now=NOW + 0.5)  # not due yet
    assert conn.execute("SELECT count(*) FROM dedup").fetchone() == (5,)
    index.sweep_if_due(conn, now=NOW + 1)
    assert conn.execute("SELECT count(*) FROM dedup").fetchone() == (0,)
    conn.close()


def test_an_sqlite_without_returning_is_refused_with_what_to_do(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(LogError, match=r"needs SQLite 3\.35\.0 or newer .* has SQLite 3\.34\.1"):
        EventLog.open(path)
