"""The broker's durable event log: an event is acknowledged only once it is on disk.

One SQLite file per Broker holds the events (sequence numbers 1, 2, 3, ... never reused), the
dedup index, each Trigger's delivery cursor and the dead letters. Writes go through one writer
thread that commits whatever is queued in one transaction (`groupcommit`); reads use a second
connection, or the in-memory tail of recent records (`logtail`).

What a caller can rely on:

- `append` returns only after a `synchronous=FULL` commit: after a SIGKILL, a power cut or a
  restart, every sequence number it returned is in the file (see `logschema` for the SQLite
  guarantees this rests on);
- an event whose (source, id) was accepted within the dedup window is not stored again and gets
  None instead of a sequence number, also across a restart;
- `head()` moves only after the commit, so a record `read_after` returns is durable;
- cursors are written lazily (`flush_cursors`), so after a crash a Trigger resumes from an older
  position and re-delivers: at-least-once, never at-most-once;
- every method is for the event loop's thread except `prune`, which blocks until the writer has
  done it and is meant to be called through `asyncio.to_thread`;
- one process at a time has the log open: it holds an exclusive lock on `<file>.lock` from
  `open` to the end of `close` (or its own end), and a second broker on the same file gets
  `LogInUse` naming the first one's pid. The memory tail and the dedup index assume that every
  append goes through this process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from local_broker.catchup import CatchUpReads
from local_broker.cursors import CursorBook
from local_broker.deadletters import AddDeadLetter, DeadLetter, read_dead_letters
from local_broker.event import CloudEvent
from local_broker.exclusive import ExclusiveLock, LockHeld
from local_broker.logerrors import LogClosed, LogCorrupt, LogError, LogInUse, LogWriteFailed
from local_broker.logschema import LogRecord, connect, encode_event, read_records, translate_error
from local_broker.logtail import MEMORY_TAIL, MemoryTail
from local_broker.logwake import CommitWaiters
from local_broker.logwrites import (
    AppendEvents,
    DedupIndex,
    FlushCursors,
    PruneEvents,
    last_sequence,
)
from local_broker.writerprocess import open_writer

__all__ = [
    "DeadLetter",
    "EventLog",
    "LogClosed",
    "LogCorrupt",
    "LogError",
    "LogInUse",
    "LogRecord",
    "LogWriteFailed",
]

T = TypeVar("T")
PRUNE_CHUNK = 5_000  # events deleted per transaction, so pruning never stalls appends for long


class EventLog:
    """One Broker's durable log. Create it with `EventLog.open(path)`; `await close()` it."""

    def __init__(
        self,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        *,
        retention_seconds: float,
        dedup_window_seconds: float,
        memory_tail: int,
        lock: ExclusiveLock,
        writer_process: Path | None = None,
    ) -> None:
        self._lock = lock
        self._retention = retention_seconds
        self._tail = MemoryTail(memory_tail, last_sequence(writer))
        self._cursors = CursorBook(dict(writer.execute("SELECT trigger_key, seq FROM cursors")))
        self._dedup = DedupIndex(dedup_window_seconds)
        self._reader = reader
        self._reader_lock = threading.Lock()
        self._catch_up = CatchUpReads()  # used under the reader's lock
        self._closing = False
        self._closed = False
        self._closer: asyncio.Task[None] | None = None
        self._waiters = CommitWaiters(self._tail)
        self._writer = open_writer(
            writer, writer_process, dedup_window_seconds, self._waiters.notify_commit
        )

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        retention_seconds: float = 86400.0,
        dedup_window_seconds: float = 600.0,
        memory_tail: int = MEMORY_TAIL,
        writer_process: bool = True,
    ) -> EventLog:
        """Open (or create, with its directories) the log at `path`; LogCorrupt if unusable,
        LogInUse if another process has it open."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock = ExclusiveLock.acquire(path.with_name(f"{path.name}.lock"))
        except LockHeld as held:
            raise LogInUse(
                f"the event log {path} is open in another broker (process "
                f"{held.holder or 'unknown'}): stop that one, or give this one another data dir"
            ) from None
        writer: sqlite3.Connection | None = None
        reader: sqlite3.Connection | None = None
        try:
            writer = connect(path, writer=True)
            reader = connect(path, writer=False)
            return cls(
                writer,
                reader,
                retention_seconds=retention_seconds,
                dedup_window_seconds=dedup_window_seconds,
                memory_tail=memory_tail,
                lock=lock,
                writer_process=path if writer_process else None,
            )
        except BaseException as error:
            for connection in (writer, reader):
                if connection is not None:
                    connection.close()
            lock.release()
            if isinstance(error, sqlite3.Error):
                raise translate_error(error, f"opening the event log {path}", LogError) from error
            raise

    @property
    def commits(self) -> int:
        """Transactions committed since open; fewer than appends when group commit is working."""
        return self._writer.commits

    async def append(self, events: Sequence[CloudEvent], *, now: float) -> list[int | None]:
        """Durably store events; each one's sequence number, or None for a dedup'd duplicate.

        LogClosed once close() has begun, LogWriteFailed if the commit failed (nothing stored),
        ValueError for an event without id, source or type. Cancelling the caller does not undo
        the write: the events may still be committed (a retry is then caught by dedup).
        """
        return await self.start_append(events, now=now)

    def start_append(
        self, events: Sequence[CloudEvent], *, now: float
    ) -> asyncio.Future[list[int | None]]:
        """`append` without a coroutine: LogClosed and ValueError are raised at once, the
        future settles with the sequence numbers once the commit is durable (or with the
        LogWriteFailed)."""
        if self._closing:
            raise LogClosed("the event log is closing")
        if not events:
            done: asyncio.Future[list[int | None]] = asyncio.get_running_loop().create_future()
            done.set_result([])
            return done
        # A private copy only for a memory tail that keeps the events: a caller may change its own.
        copy = self._tail.capacity > 0
        encoded = [encode_event(event, copy=copy) for event in events]
        return self._writer.submit(AppendEvents(encoded, now, self._dedup, self._tail))

    def head(self) -> int:
        """The highest committed sequence number (0 when nothing was ever appended)."""
        return self._tail.head

    async def wait_beyond(self, seq: int, event_type: str | None = None) -> int:
        """Return once head() > seq, or once the log is closing.

        With `event_type`, return only once events of that type (may) follow `seq`, or at
        the latest at the next `wake_type_waiters()`. The result is then the sequence number
        up to which no event of that type follows `seq`: the caller may skip to it unread.
        Without, the result is `seq`.
        """
        return await self._waiters.wait_beyond(seq, event_type)

    def wake_type_waiters(self) -> None:
        """Wake every waiter parked by event type (call it now and then from the loop): a
        Trigger that rarely matches still moves its cursor, so it holds back no pruning."""
        self._waiters.wake_type_waiters()

    def read_after(self, seq: int, limit: int) -> list[LogRecord]:
        """Up to `limit` committed records with sequence numbers above `seq`, in order."""
        records = self._tail.read_after(seq, limit)
        if records is not None:
            return records
        upto = self._tail.head
        return self._read(lambda conn: self._catch_up.read_after(conn, seq, limit, upto))

    def read_range(
        self, after: int, limit: int, type_filter: str | None = None, *, newest: bool = False
    ) -> list[LogRecord]:
        """Stored records above `after`, optionally only of one exact type (for `shoal events`):
        the first `limit`, or with `newest` the last `limit`; oldest first either way."""
        upto = self._tail.head
        return self._read(
            lambda conn: read_records(
                conn, after, limit, upto=upto, type_filter=type_filter, newest=newest
            )
        )

    def cursor(self, trigger_key: str) -> int | None:
        """The trigger's position (events up to it are done), or None for a trigger never seen."""
        return self._cursors.get(trigger_key)

    def cursors(self) -> dict[str, int]:
        """Every trigger's position (a copy)."""
        return self._cursors.positions()

    def watch_commits(self, listener: Callable[[], None]) -> None:
        """Call `listener()` on the running event loop after each group commit (the delivery
        process hears of each commit so: deliveryhost.py)."""
        self._waiters.listen(listener)

    def set_cursor(self, trigger_key: str, seq: int) -> None:
        """Move the trigger's position in memory; flush_cursors() makes it durable."""
        self._cursors.move(trigger_key, seq)

    def forget_trigger(self, trigger_key: str) -> None:
        """Drop a removed trigger's position (at the next flush), so it holds back no pruning."""
        self._cursors.forget(trigger_key)

    def flush_cursors(self) -> asyncio.Future[None]:
        """Queue changed cursors for the next group commit without blocking.

        Fire and forget from a periodic task, or await the result to know they are durable.
        If the write fails, the cursors are marked changed again for the next flush.
        """
        if not self._cursors.changed():
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        positions, forgotten = self._cursors.take()
        future = self._writer.submit(FlushCursors(positions, forgotten))

        def restore_on_failure(flushed: asyncio.Future[None]) -> None:
            if flushed.cancelled() or flushed.exception() is not None:
                self._cursors.give_back(positions, forgotten)

        future.add_done_callback(restore_on_failure)
        return future

    async def add_dead_letter(self, record: DeadLetter) -> None:
        """Durably keep an event that exhausted its retries (its `id` field is ignored)."""
        await self._writer.submit(AddDeadLetter(record))

    def dead_letters(
        self, limit: int = 100, after_id: int = 0, *, newest: bool = False
    ) -> list[DeadLetter]:
        """Dead letters with ids above `after_id`, oldest first: the first `limit`, or with
        `newest` the last `limit`."""
        return self._read(lambda conn: read_dead_letters(conn, limit, after_id, newest=newest))

    def prune(self, *, now: float) -> int:
        """Delete events older than the retention that every known trigger is done with.

        Blocks until the writer thread has done it (in chunks of PRUNE_CHUNK, each its own
        group commit); returns how many events were deleted.
        """
        before = now - self._retention
        total = 0
        while True:
            cursors = list(self._cursors.positions().values())  # safe from another thread
            deleted = self._writer.run(
                PruneEvents(before=before, cursors=cursors, chunk=PRUNE_CHUNK)
            )
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total

    async def close(self) -> None:
        """Refuse new appends, commit everything queued, flush cursors, stop the writer."""
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closer)

    async def _close(self) -> None:
        self._closing = True
        self._waiters.closing = True
        if self._waiters.loop is asyncio.get_running_loop():
            self._waiters.wake()  # waiters return: nothing more will be appended
        try:
            await self.flush_cursors()  # queued behind every pending append: those commit first
        finally:
            self._writer.stop()
            await asyncio.to_thread(self._writer.join)
            self._writer.close()
            with self._reader_lock:
                self._closed = True
                self._reader.close()
            self._lock.release()

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        with self._reader_lock:
            if self._closed:
                raise LogClosed("the event log is closed")
            try:
                return query(self._reader)
            except sqlite3.Error as error:
                raise translate_error(error, "reading the event log", LogError) from error
