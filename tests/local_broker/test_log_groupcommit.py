"""The group-commit writer on its own, with small write operations on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local_broker.groupcommit import GroupCommitWriter, WriteOp
from local_broker.logerrors import LogClosed, LogWriteFailed


class Insert(WriteOp[int]):
    def __init__(self, value: str) -> None:
        self.value = value

    def apply(self, conn: sqlite3.Connection) -> int:
        cursor = conn.execute("INSERT INTO t (value) VALUES (?)", (self.value,))
        assert cursor.lastrowid is not None
        return cursor.lastrowid


class Fail(WriteOp[None]):
    def apply(self, conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error (simulated by the operation itself)")


class Hold(WriteOp[None]):
    """Keeps the writer busy inside a transaction until released, so others queue behind it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def apply(self, conn: sqlite3.Connection) -> None:
        self.entered.set()
        self.release.wait(timeout=10)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
    conn.close()
    return db


@pytest.fixture
async def writer(path: Path) -> AsyncIterator[GroupCommitWriter]:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    started = GroupCommitWriter(conn, after_commit=lambda: None)
    yield started
    started.stop()
    await asyncio.to_thread(started.join)


def stored(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT value FROM t ORDER BY id").fetchall()
    conn.close()
    return [value for (value,) in rows]


async def hold(writer: GroupCommitWriter) -> tuple[Hold, asyncio.Future[None]]:
    op = Hold()
    done = writer.submit(op)
    assert await asyncio.to_thread(op.entered.wait, 5)
    return op, done


async def test_operations_queued_together_share_one_transaction(
    writer: GroupCommitWriter, path: Path
) -> None:
    held, first = await hold(writer)
    queued = [writer.submit(Insert(str(n))) for n in range(100)]
    held.release.set()
    assert await asyncio.gather(first, *queued) == [None, *range(1, 101)]
    assert writer.commits == 2
    assert stored(path) == [str(n) for n in range(100)]


async def test_a_failure_rolls_back_its_whole_batch_only(
    writer: GroupCommitWriter, path: Path
) -> None:
    held, first = await hold(writer)
    good, bad = writer.submit(Insert("lost")), writer.submit(Fail())
    held.release.set()
    await first
    for future in (good, bad):
        with pytest.raises(LogWriteFailed, match="disk I/O error"):
            await future
    assert await writer.submit(Insert("kept")) == 1  # the writer carries on
    assert stored(path) == ["kept"]
    assert writer.commits == 2


async def test_a_cancelled_caller_still_gets_its_write(
    writer: GroupCommitWriter, path: Path
) -> None:
    held, first = await hold(writer)
    cancelled = writer.submit(Insert("mine"))
    cancelled.cancel()
    held.release.set()
    await first
    await writer.submit(Insert("next"))
    assert stored(path) == ["mine", "next"]


async def test_blocking_callers_from_other_threads(writer: GroupCommitWriter, path: Path) -> None:
    results = await asyncio.gather(
        *(asyncio.to_thread(writer.run, Insert(str(n))) for n in range(20))
    )
    assert sorted(results) == list(range(1, 21))
    assert len(stored(path)) == 20


async def test_stop_commits_what_is_queued_then_refuses(
    writer: GroupCommitWriter, path: Path
) -> None:
    held, first = await hold(writer)
    queued = [writer.submit(Insert(str(n))) for n in range(10)]
    writer.stop()
    with pytest.raises(LogClosed):
        writer.submit(Insert("late"))
    held.release.set()
    await asyncio.gather(first, *queued)
    await asyncio.to_thread(writer.join)
    assert stored(path) == [str(n) for n in range(10)]
