"""A Broker's log as the delivery process sees it (`--delivery process`).

The broker's process owns the log: it appends, keeps the dedup index and holds the file's lock.
The delivery process reads the same SQLite file (WAL lets a reader run beside the writer) and
learns of each group commit from a notice the broker's process sends once the commit is
durable (`advance`). It reads the new records once, into its own memory tail (no more of them
than the tail keeps), and wakes its dispatchers as the broker's process would wake its own
(`CommitWaiters`); dispatchers further behind read through `CatchUpReads`.

Writes go back to the broker's process, which owns the writer: cursors (`flush_cursors`) and
dead letters (`add_dead_letter`). The cursors the delivery process moves are its own while it
runs; the broker's process keeps the last flushed ones, for pruning and for the next start.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from local_broker.catchup import CatchUpReads
from local_broker.cursors import CursorBook
from local_broker.deadletters import DeadLetter
from local_broker.logerrors import LogError
from local_broker.logschema import LogRecord, connect, read_records, translate_error
from local_broker.logtail import MEMORY_TAIL, MemoryTail
from local_broker.logwake import CommitWaiters

READ_CHUNK = 1024  # records read from SQLite per query when catching up with a commit notice
# Writes the broker's process makes for this log: (what, its arguments) -> their completion.
WriteThrough = Callable[[str, tuple[object, ...]], Awaitable[object]]


class DeliveryLog:
    def __init__(
        self,
        path: Path,
        head: int,
        cursors: Mapping[str, int],
        write_through: WriteThrough,
        *,
        memory_tail: int = MEMORY_TAIL,
    ) -> None:
        self._reader = connect(path, writer=False)
        self._tail = MemoryTail(memory_tail, head)
        self._catch_up = CatchUpReads()
        self._waiters = CommitWaiters(self._tail)
        self._cursors = CursorBook(cursors)
        self._write = write_through
        self._closed = False

    def advance(self, head: int) -> None:
        """The broker's process committed up to `head`: read what is new, wake the readers."""
        tail = self._tail
        # Only the newest `capacity` records stay in the ring: reading older ones into it would
        # decode them for nothing (a reader that far behind reads them through `_catch_up`).
        after = max(tail.head, head - tail.capacity)
        try:
            while after < head:
                records = read_records(self._reader, after, READ_CHUNK, upto=head)
                if not records:
                    break  # pruned meanwhile: nothing of it is anyone's to deliver
                tail.publish(records)
                after = records[-1].seq
        except sqlite3.Error as error:
            raise translate_error(error, "reading the event log", LogError) from error
        if tail.head < head:  # a ring of none, or records pruned before they were read
            tail.move_head(head)
        self._waiters.wake()

    def head(self) -> int:
        return self._tail.head

    def read_after(self, seq: int, limit: int) -> list[LogRecord]:
        records = self._tail.read_after(seq, limit)
        if records is not None:
            return records
        try:
            return self._catch_up.read_after(self._reader, seq, limit, self._tail.head)
        except sqlite3.Error as error:
            raise translate_error(error, "reading the event log", LogError) from error

    async def wait_beyond(self, seq: int, event_type: str | None = None) -> int:
        return await self._waiters.wait_beyond(seq, event_type)

    def wake_type_waiters(self) -> None:
        self._waiters.wake_type_waiters()

    def cursor(self, trigger_key: str) -> int | None:
        return self._cursors.get(trigger_key)

    def set_cursor(self, trigger_key: str, seq: int) -> None:
        self._cursors.move(trigger_key, seq)

    def forget_trigger(self, trigger_key: str) -> None:
        self._cursors.forget(trigger_key)

    def flush_cursors(self) -> asyncio.Future[None]:
        """Have the broker's process make the changed cursors durable; as `EventLog`'s, a
        failed flush marks them changed again."""
        changed = self._cursors.changed()
        positions, forgotten = self._cursors.take()

        async def flush() -> None:
            if not changed:
                return
            try:
                await self._write("cursors", (positions, forgotten))
            except BaseException:
                self._cursors.give_back(positions, forgotten)
                raise

        return asyncio.ensure_future(flush())

    async def add_dead_letter(self, record: DeadLetter) -> None:
        await self._write("dead letter", (record,))

    def close(self) -> None:
        """Wake every waiter for the last time and close the reader."""
        if self._closed:
            return
        self._closed = True
        self._waiters.closing = True
        self._waiters.wake()
        self._reader.close()
