"""The last N committed records, in memory, so trigger dispatchers rarely touch SQLite.

Every dispatcher re-reads the newest events after each commit; with a thousand triggers that
would be a thousand queries per commit. The writer thread publishes each commit here instead, and
readers copy slices out under a lock (the writer and the event loop are different threads).

Sequence numbers are gap-free (the writer assigns them in one thread and a duplicate consumes
none), so record `seq` sits at `ring[seq % capacity]` and a slice is plain index arithmetic.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from local_broker.logschema import LogRecord

# The default capacity: records kept in memory for the Triggers' dispatchers; one that falls
# further behind reads from SQLite. Each record is two objects the garbage collector tracks,
# and a full collection scans them all while the event loop waits: with 65,536 records a full
# collection stalled the broker for 60 to 90 ms (enough to break the p99 of a 5 s window at
# 1,000 events/s); with 8,192, 8 to 19 ms. At 7,000 events/s it is still over a second of events.
MEMORY_TAIL = 8192
# And a bound on the bytes those records hold: 8,192 events of up to the 1 MiB ingress limit
# would be 8 GiB. Past it the oldest records leave the ring early (their readers use SQLite).
MEMORY_TAIL_BYTES = 64 * 1024 * 1024
# What a record costs besides its data: the objects, the attributes' strings.
_RECORD_OVERHEAD = 512


def _size(record: LogRecord) -> int:
    data = record.event.data
    return _RECORD_OVERHEAD + (len(data) if data is not None else 0)


class MemoryTail:
    """A ring of the newest committed records plus the log's head; safe to share across threads."""

    def __init__(self, capacity: int, head: int, max_bytes: int = MEMORY_TAIL_BYTES) -> None:
        if capacity < 0:
            raise ValueError("memory_tail must be >= 0")
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._bytes = 0  # held by the records in the ring
        self._ring: list[LogRecord | None] = [None] * capacity
        self._head = head
        self._lowest = head + 1  # the lowest sequence number the ring holds
        self._lock = threading.Lock()

    @property
    def head(self) -> int:
        """The highest committed sequence number (0 when the log is empty)."""
        return self._head

    @property
    def capacity(self) -> int:
        """How many records it holds at most (0: it only follows the head)."""
        return self._capacity

    def move_head(self, head: int) -> None:
        """A commit's events up to `head`, for a tail that holds none (capacity 0)."""
        with self._lock:
            self._head = max(self._head, head)
            self._lowest = self._head + 1

    def publish(self, records: Sequence[LogRecord]) -> None:
        """Record a commit's events; they follow the current head without a gap."""
        if not records:
            return
        with self._lock:
            if records[0].seq != self._head + 1:
                self._lowest = records[0].seq  # never expected; keep slices correct regardless
            ring, capacity = self._ring, self._capacity
            if capacity:
                for record in records:
                    slot = record.seq % capacity
                    replaced = ring[slot]
                    if replaced is not None:
                        self._bytes -= _size(replaced)
                    ring[slot] = record
                    self._bytes += _size(record)
            self._head = records[-1].seq
            self._lowest = max(self._lowest, self._head - capacity + 1)
            while self._bytes > self._max_bytes and self._lowest <= self._head:
                slot = self._lowest % capacity
                evicted = ring[slot]
                if evicted is not None:
                    self._bytes -= _size(evicted)
                    ring[slot] = None
                self._lowest += 1

    def read_after(self, seq: int, limit: int) -> list[LogRecord] | None:
        """Records with sequence numbers above `seq` (at most `limit`), or None if not all held."""
        with self._lock:
            head = self._head
            if seq >= head or limit <= 0:
                return []
            if seq + 1 < self._lowest:
                return None
            ring, capacity = self._ring, self._capacity
            return [
                record
                for position in range(seq + 1, min(head, seq + limit) + 1)
                if (record := ring[position % capacity]) is not None
            ]
