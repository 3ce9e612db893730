"""Waking the readers of an event log after each commit.

Readers (one per Trigger) park until the log's head moves. Most park on one shared Event: each
commit sets it and installs a fresh one, so a commit costs one wake-up per waiting task and no
per-waiter bookkeeping. A reader whose filter implies one event type parks by that type
instead and sleeps through commits without it; it is woken with the sequence number up to
which nothing of its type was committed, and may skip there unread.

The writer calls `notify_commit` after each commit (the writer thread, or the loop itself when
the writer is a process); everything else runs on the loop. Listeners (`listen`) hear of every
commit on the loop too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import suppress

from local_broker.logtail import MemoryTail


class CommitWaiters:
    def __init__(self, tail: MemoryTail) -> None:
        self._tail = tail
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._by_type: dict[str, list[asyncio.Future[int]]] = {}
        self._woken_head = tail.head  # commits up to here were announced to the waiters
        self._listeners: list[Callable[[], None]] = []
        self._loop_thread = 0
        self.closing = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the waiters wait on (None before anyone waited)."""
        return self._loop

    async def wait_beyond(self, seq: int, event_type: str | None = None) -> int:
        """See `EventLog.wait_beyond`."""
        self._attach()
        if event_type is not None:
            if self._tail.head > seq or self.closing:
                await asyncio.sleep(0)
                return seq
            woken: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._by_type.setdefault(event_type, []).append(woken)
            return max(seq, await woken)
        while self._tail.head <= seq:
            if self.closing:
                # Still yield: a read/wait loop that misses the shutdown must not freeze the loop.
                await asyncio.sleep(0)
                return seq
            await self._changed.wait()
        return seq

    def listen(self, listener: Callable[[], None]) -> None:
        """Call `listener()` on the running loop after each commit."""
        self._attach()
        self._listeners.append(listener)

    def _attach(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._changed = loop, asyncio.Event()
            self._loop_thread = threading.get_ident()
            self._by_type.clear()

    def wake_type_waiters(self) -> None:
        """Wake every waiter parked by event type, to skip what was announced so far."""
        waiting, self._by_type = self._by_type, {}
        for futures in waiting.values():
            _resolve(futures, self._woken_head)

    def notify_commit(self) -> None:
        """The writer, after each commit: wake the waiters on their event loop."""
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            loop.call_soon(self.wake)  # no wake-up of the loop through its self-pipe
            return
        with suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(self.wake)

    def wake(self) -> None:
        """On the loop: wake the waiters a commit concerns (all of them once closing)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for listener in self._listeners:
            listener()
        previous = self._woken_head
        if not self._by_type:
            self._woken_head = self._tail.head
            return
        records = self._tail.read_after(previous, self._tail.head - previous)
        self._woken_head = records[-1].seq if records else self._tail.head
        if records is None or self.closing:  # not in memory (never expected): wake them all
            waiting, self._by_type = self._by_type, {}
            for futures in waiting.values():
                _resolve(futures, previous)
            return
        # None of these types was committed between `previous` and the waiter's parking.
        for event_type in {record.event.type for record in records}:
            _resolve(self._by_type.pop(event_type, []), previous)


def _resolve(futures: list[asyncio.Future[int]], quiet_until: int) -> None:
    for future in futures:
        if not future.done():  # its reader was cancelled
            future.set_result(quiet_until)
