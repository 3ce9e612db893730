"""Reads from SQLite for dispatchers behind the memory tail, shared between them.

A Broker's Triggers all read the same log. When a backlog outgrows the memory tail (a burst
faster than the subscribers, or a restart with undelivered events), every Trigger's dispatcher
reads the records it needs from SQLite; ten Triggers behind by the same stretch would read and
decode every record ten times (a quarter of the delivery process's time, in a profile of ten
Triggers draining a backlog). So the reads go through here: in chunks aligned to fixed
sequence numbers, so that readers at different positions ask for the same chunk, and the last
few chunks are kept, decoded.

A chunk read while the log's head was inside it covers only up to that head; a reader past it
reads the chunk again. The records are immutable, so a kept chunk stays true while the log
prunes: a reader at a pruned position gets the events it would have got a moment earlier.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections import OrderedDict

from local_broker.logschema import LogRecord, read_records

CHUNK = 256  # records per chunk (the dispatchers read 256 at a time)
CHUNKS = 8  # chunks kept: readers a few chunks apart share them
# A chunk whose events' data is larger is not kept (up to 256 events of 1 MiB each).
MAX_CHUNK_BYTES = 8 * 1024 * 1024


class _Chunk:
    __slots__ = ("covers", "records", "seqs")

    def __init__(self, covers: int, records: list[LogRecord]) -> None:
        self.covers = covers  # the highest sequence number the read could see
        self.records = records
        self.seqs = [record.seq for record in records]


def _data_bytes(records: list[LogRecord]) -> int:
    return sum(len(record.event.data or b"") for record in records)


class CatchUpReads:
    """Chunked, shared reads of committed records; not thread-safe (callers hold their lock)."""

    def __init__(self, chunk: int = CHUNK, chunks: int = CHUNKS) -> None:
        if chunk <= 0 or chunks <= 0:
            raise ValueError("chunk and chunks must be > 0")
        self._size = chunk
        self._keep = chunks
        self._chunks: OrderedDict[int, _Chunk] = OrderedDict()
        self.queries = 0  # SQLite reads made (for tests and profiles)

    def read_after(
        self, conn: sqlite3.Connection, seq: int, limit: int, upto: int
    ) -> list[LogRecord]:
        """The first `limit` stored records with `seq < record.seq <= upto`, in order. `upto`
        (the log's head) never goes down from one call to the next, so no kept chunk reaches
        past it."""
        found: list[LogRecord] = []
        while seq < upto and len(found) < limit:
            chunk = self._chunk(conn, seq // self._size, upto)
            start = bisect_right(chunk.seqs, seq)
            found += chunk.records[start : start + limit - len(found)]
            seq = chunk.covers  # past this chunk (> seq: covers is past the chunk's start)
        return found

    def _chunk(self, conn: sqlite3.Connection, index: int, upto: int) -> _Chunk:
        first = index * self._size  # the chunk holds first < seq <= first + size
        kept = self._chunks.get(index)
        covers = min(first + self._size, upto)
        if kept is not None and kept.covers >= covers:
            self._chunks.move_to_end(index)
            return kept
        self.queries += 1
        chunk = _Chunk(covers, read_records(conn, first, self._size, upto=covers))
        if _data_bytes(chunk.records) <= MAX_CHUNK_BYTES:
            self._chunks[index] = chunk
            self._chunks.move_to_end(index)
            while len(self._chunks) > self._keep:
                self._chunks.popitem(last=False)
        return chunk
