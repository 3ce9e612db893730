"""The event log's writes, each applied by the group-commit writer inside its batch transaction.

Deduplication lives here, in the writer thread, so it is decided in commit order: of two racing
appends of the same (source, id) exactly one is stored, whichever reached the queue first. The
dedup index is a table rather than a dict so it survives a restart, and it is not held in memory
at all: 10 minutes at 5,000 events/s is three million keys.

A batch of appends costs a fixed number of statements, not a few per event: the sqlite3 module
releases the GIL around every step, and under load the writer then waits up to the interpreter's
switch interval (5 ms) to get it back from the busy event loop. One statement per event capped
the broker at about a thousand events a second whatever the CPU.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import TypeVar

from local_broker.groupcommit import WriteOp
from local_broker.logschema import EncodedEvent, LogRecord
from local_broker.logtail import MemoryTail

_Row = tuple[int, float, str, str, bytes | None]  # seq, arrival, type, attributes, data
# What the writer needs of an event to store it: source, id, type, attributes JSON, data.
Columns = tuple[str, str, str, str, bytes | None]
SWEEP_CHUNK = 20_000  # expired dedup keys deleted per sweep (at most one sweep a second)
_NO_CURSOR = 2**63 - 1  # SQLite's largest integer: with no trigger, nothing holds events back
_ROWS_PER_STATEMENT = 256  # multi-row statements; 5 columns stay far below SQLite's 32766 variables
_Key = tuple[str, str]  # (source, id)
T = TypeVar("T")


@lru_cache(maxsize=64)
def _values(columns: int, rows: int) -> str:
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


def _chunks(items: Sequence[T], size: int = _ROWS_PER_STATEMENT) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def last_sequence(conn: sqlite3.Connection) -> int:
    """The highest sequence number ever assigned (kept by AUTOINCREMENT even after pruning)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return 0 if row is None else int(row[0])


class DedupIndex:
    """(source, id) pairs accepted within the window; writer-thread state only."""

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        # Sweeping expired keys is only housekeeping (admit() compares timestamps itself). It runs
        # often and deletes at most SWEEP_CHUNK keys, inside an append's transaction, so it never
        # stalls appends for long, even after a restart finds a whole window of expired keys.
        self._sweep_every = min(1.0, max(0.1, window_seconds / 10))
        self._swept_at = -math.inf

    def admit(self, conn: sqlite3.Connection, keys: Sequence[tuple[_Key, float]]) -> list[bool]:
        """For each (key, now) in order: True, recording it, unless it was accepted within the
        window (earlier in `keys` included); then False.

        One statement per chunk: the upsert inserts a new key and refreshes an expired one, and
        RETURNING names exactly those. A key that was accepted within the window conflicts and
        is left alone, so it is not returned; nor is a second occurrence in the same chunk, which
        conflicts with the row the first one just wrote. Reading the keys first, then writing
        them, looked every key up twice.
        """
        if self.window <= 0:
            return [True] * len(keys)
        verdicts: list[bool] = []
        for chunk in _chunks(keys):
            admitted = {
                (source, event_id)
                for source, event_id in conn.execute(
                    f"INSERT INTO dedup (source, id, accepted_at) VALUES {_values(3, len(chunk))}"
                    " ON CONFLICT (source, id) DO UPDATE SET accepted_at = excluded.accepted_at"
                    " WHERE dedup.accepted_at < excluded.accepted_at - ?"
                    " RETURNING source, id",
                    [
                        *(
                            part
                            for (source, event_id), now in chunk
                            for part in (source, event_id, now)
                        ),
                        self.window,
                    ],
                )
            }
            for key, _now in chunk:
                verdicts.append(key in admitted)
                admitted.discard(key)  # a later occurrence in the chunk is a duplicate
        return verdicts

    def sweep_if_due(self, conn: sqlite3.Connection, now: float) -> None:
        if self.window <= 0 or now - self._swept_at < self._sweep_every:
            return
        self._swept_at = now
        expired = now - self.window
        row = conn.execute(
            "SELECT accepted_at FROM dedup WHERE accepted_at < ? ORDER BY accepted_at"
            " LIMIT 1 OFFSET ?",
            (expired, SWEEP_CHUNK),
        ).fetchone()
        conn.execute(
            "DELETE FROM dedup WHERE accepted_at < ?", (expired if row is None else row[0],)
        )


def store_events(
    conn: sqlite3.Connection, dedup: DedupIndex, appends: Sequence[tuple[float, Sequence[Columns]]]
) -> list[list[int | None]]:
    """Number the events of appends queued together and store them with a few statements: for
    each (arrival time, events) its events' sequence numbers, None for a duplicate.

    With one event per request, sharing the sequence read and the INSERT cut the writer's time
    per event by about 40%.
    """
    dedup.sweep_if_due(conn, max(now for now, _events in appends))
    verdicts = iter(
        dedup.admit(conn, [((e[0], e[1]), now) for now, events in appends for e in events])
    )
    # Read, not cached: a rolled-back batch rolls it back too, so numbers stay gap-free.
    seq = last_sequence(conn)
    rows: list[_Row] = []
    numbered: list[list[int | None]] = []
    for now, events in appends:
        sequences: list[int | None] = []
        for _source, _id, event_type, attributes, data in events:
            if not next(verdicts):
                sequences.append(None)
                continue
            seq += 1
            sequences.append(seq)
            rows.append((seq, now, event_type, attributes, data))
        numbered.append(sequences)
    for chunk in _chunks(rows):
        conn.execute(
            "INSERT INTO events (seq, arrival, type, attributes, data)"
            f" VALUES {_values(5, len(chunk))}",
            [part for row in chunk for part in row],
        )
    return numbered


class AppendEvents(WriteOp[list[int | None]]):
    """Store events that pass dedup under the next sequence numbers; publish them once durable."""

    def __init__(
        self, events: Sequence[EncodedEvent], now: float, dedup: DedupIndex, tail: MemoryTail
    ) -> None:
        self.size = len(events)
        self._events = events
        self._now = now
        self._dedup = dedup
        self._tail = tail

    def columns(self) -> tuple[float, list[Columns]]:
        """Its arrival time and what `store_events` needs of each event."""
        return self._now, [
            (e.source, e.id, e.type, e.attributes_json, e.event.data) for e in self._events
        ]

    def apply(self, conn: sqlite3.Connection) -> list[int | None]:
        return self.apply_all(conn, [self])[0]

    @classmethod
    def apply_all(
        cls, conn: sqlite3.Connection, ops: Sequence[AppendEvents]
    ) -> list[list[int | None]]:
        return store_events(conn, ops[0]._dedup, [op.columns() for op in ops])

    def committed(self, result: list[int | None]) -> None:
        if not self._tail.capacity:  # nobody reads records from memory (--delivery process)
            self._tail.move_head(max((seq for seq in result if seq is not None), default=0))
            return
        now = self._now
        self._tail.publish(
            [
                LogRecord(seq, encoded.event, now)
                for encoded, seq in zip(self._events, result, strict=True)
                if seq is not None
            ]
        )


class FlushCursors(WriteOp[None]):
    """Persist trigger positions and drop forgotten triggers."""

    def __init__(self, positions: Mapping[str, int], forgotten: Collection[str]) -> None:
        self.size = len(positions) + len(forgotten)
        self._positions = dict(positions)
        self._forgotten = list(forgotten)

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO cursors (trigger_key, seq) VALUES (?, ?)"
            " ON CONFLICT (trigger_key) DO UPDATE SET seq = excluded.seq",
            self._positions.items(),
        )
        conn.executemany(
            "DELETE FROM cursors WHERE trigger_key = ?", ((key,) for key in self._forgotten)
        )


class PruneEvents(WriteOp[int]):
    """Delete up to `chunk` of the oldest events that every trigger is done with and that are
    older than `before`.

    Only a prefix of the log is deleted (stopping at the first event that must stay), so the
    work is proportional to what is deleted, with no index on arrival times to slow appends.
    Arrival times follow sequence order except across a clock step, where an event just waits
    for the ones before it.
    """

    def __init__(self, *, before: float, cursors: Collection[int], chunk: int) -> None:
        self._before = before
        self._cursors = list(cursors)  # in memory, possibly ahead of (or behind) the table
        self._chunk = chunk

    def apply(self, conn: sqlite3.Connection) -> int:
        (persisted,) = conn.execute("SELECT min(seq) FROM cursors").fetchone()
        floors = [*self._cursors, *([] if persisted is None else [persisted])]
        floor = min(floors, default=_NO_CURSOR)
        last = 0
        oldest = conn.execute(
            "SELECT seq, arrival FROM events WHERE seq <= ? ORDER BY seq LIMIT ?",
            (floor, self._chunk),
        )
        for seq, arrival in oldest.fetchall():
            if arrival >= self._before:
                break
            last = seq
        if not last:
            return 0
        return conn.execute("DELETE FROM events WHERE seq <= ?", (last,)).rowcount
