"""Reads for dispatchers behind the memory tail: chunked, shared, and the same records as a
plain read; the delivery process's log reads only what its ring keeps."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_broker.catchup import CatchUpReads
from local_broker.deliverylog import DeliveryLog
from local_broker.event import CloudEvent
from local_broker.log import EventLog
from local_broker.logschema import connect, read_records

NOW = 1_700_000_000.0


def event(n: int, data: bytes | None = None) -> CloudEvent:
    attributes = {"specversion": "1.0", "id": str(n), "source": "/tests", "type": "t.v1"}
    return CloudEvent(attributes, data if data is not None else str(n).encode())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


async def fill(path: Path, count: int, data: bytes | None = None) -> None:
    log = EventLog.open(path)
    for start in range(0, count, 500):
        await log.append([event(n, data) for n in range(start, min(count, start + 500))], now=NOW)
    await log.close()


@pytest.fixture
def reader(filled: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(filled, writer=False)
    yield conn
    conn.close()


@pytest.fixture
async def filled(path: Path) -> Path:
    await fill(path, 1000)
    return path


@pytest.mark.parametrize(
    ("seq", "limit", "upto", "expected"),
    [
        (0, 256, 1000, range(1, 257)),
        (0, 10, 1000, range(1, 11)),
        (100, 256, 1000, range(101, 357)),  # across two chunks
        (255, 256, 1000, range(256, 512)),
        (256, 600, 1000, range(257, 857)),
        (990, 256, 1000, range(991, 1001)),
        (990, 256, 995, range(991, 996)),  # never past the head it is given
        (1000, 256, 1000, []),
        (10, 0, 1000, []),
    ],
)
async def test_reads_match_a_plain_read(
    reader: sqlite3.Connection,
    seq: int,
    limit: int,
    upto: int,
    expected: range | list[int],
) -> None:
    got = CatchUpReads().read_after(reader, seq, limit, upto)
    assert [record.seq for record in got] == list(expected)
    assert got == read_records(reader, seq, limit, upto=upto)


async def test_readers_in_one_chunk_share_one_query(
    filled: Path, reader: sqlite3.Connection
) -> None:
    reads = CatchUpReads()
    for seq in (0, 40, 17, 246, 200):  # dispatchers a little apart
        reads.read_after(reader, seq, 10, 1000)
    assert reads.queries == 1
    reads.read_after(reader, 250, 10, 1000)  # into the next chunk
    reads.read_after(reader, 300, 10, 1000)
    assert reads.queries == 2


async def test_a_chunk_read_at_the_head_is_read_again_once_the_head_moves(
    filled: Path, reader: sqlite3.Connection
) -> None:
    reads = CatchUpReads()
    assert [r.seq for r in reads.read_after(reader, 0, 256, 100)][-1] == 100
    assert reads.read_after(reader, 50, 256, 100)[-1].seq == 100  # the kept chunk serves it
    assert reads.queries == 1
    assert [r.seq for r in reads.read_after(reader, 100, 100, 300)] == list(range(101, 201))
    assert reads.queries == 2


async def test_only_the_last_chunks_are_kept(filled: Path, reader: sqlite3.Connection) -> None:
    reads = CatchUpReads(chunk=10, chunks=2)
    for seq in (0, 10, 20):
        reads.read_after(reader, seq, 10, 1000)
    reads.read_after(reader, 25, 5, 1000)  # kept
    assert reads.queries == 3
    reads.read_after(reader, 5, 5, 1000)  # evicted: read again
    assert reads.queries == 4


async def test_a_chunk_of_large_events_is_not_kept(path: Path) -> None:
    await fill(path, 20, data=b"x" * (600 * 1024))  # 12 MiB in one chunk
    reader = connect(path, writer=False)
    reads = CatchUpReads()
    assert len(reads.read_after(reader, 0, 256, 20)) == 20
    reads.read_after(reader, 0, 256, 20)
    reader.close()
    assert reads.queries == 2


async def test_a_reader_in_a_pruned_stretch_gets_the_next_stored_records(
    filled: Path, reader: sqlite3.Connection
) -> None:
    with sqlite3.connect(filled) as conn:  # as pruning does: the oldest go first
        conn.execute("DELETE FROM events WHERE seq <= 600")
    got = CatchUpReads().read_after(reader, 10, 256, 1000)
    assert [record.seq for record in got] == list(range(601, 857))


async def no_writes(_what: str, _arguments: tuple[object, ...]) -> object:
    raise AssertionError("these reads write nothing")


async def test_delivery_log_reads_only_what_its_ring_keeps(filled: Path) -> None:
    log = DeliveryLog(filled, 0, {}, no_writes, memory_tail=100)
    try:
        log.advance(1000)
        assert log.head() == 1000
        # The ring holds 901-1000 only: a reader there never touches SQLite.
        assert [r.seq for r in log.read_after(950, 10)] == list(range(951, 961))
        assert log._catch_up.queries == 0
        behind = log.read_after(10, 246)
        assert [r.seq for r in behind] == list(range(11, 257))
        assert log._catch_up.queries == 1
        # A head past what is stored (pruned, or a notice ahead of the file) still moves.
        log.advance(1005)
        assert log.head() == 1005
    finally:
        log.close()


async def test_delivery_log_without_a_ring_follows_the_head(filled: Path) -> None:
    log = DeliveryLog(filled, 0, {}, no_writes, memory_tail=0)
    try:
        log.advance(1000)
        assert log.head() == 1000
        assert [r.seq for r in log.read_after(998, 10)] == [999, 1000]
    finally:
        log.close()
