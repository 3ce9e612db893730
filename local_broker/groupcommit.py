"""Group commit: one writer thread turns many concurrent writes into few durable transactions.

With `synchronous=FULL` every commit waits for an fsync of the WAL, so committing each append on
its own caps the broker at one event per fsync. Instead callers put write operations on a queue;
the writer thread takes everything waiting (up to a bound), applies it all in one transaction
(consecutive operations of one kind together, so they can share statements), commits once, and
only then settles each caller's future. While one fsync is in flight the next batch accumulates,
so batches grow with load and no artificial delay is needed.

Semantics a caller can rely on:

- operations are applied in the order they were submitted, each batch in one transaction: a
  future resolves only after its operation is durably committed;
- if anything in a batch fails the whole transaction rolls back and every future in the batch
  fails with a `LogError` (nothing of it is stored); later batches are tried again normally;
- a cancelled caller does not cancel its write: it may still be committed;
- after `stop()` no submission is accepted (`LogClosed`); everything submitted before it is
  still committed before the thread exits.

Futures of asyncio callers are settled with one `call_soon_threadsafe` per event loop per batch.
Submissions from an event loop are handed to the thread together, once per loop iteration: the
requests that one wake-up of the loop parsed reach the writer as one queue item, so it neither
wakes per request nor starts a commit with the first of them while the rest are on their way
(that made batches smaller and cost about a third more writer time per event).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

from local_broker.logerrors import LogClosed, LogError
from local_broker.logschema import translate_error

T = TypeVar("T")
_logger = logging.getLogger(__name__)
_Future = asyncio.Future[Any] | concurrent.futures.Future[Any]
_Outcome = tuple[_Future, BaseException | None, Any]


class WriteOp(Generic[T]):
    """One write: `apply` runs in the writer thread inside the batch's transaction."""

    size = 1  # how much of a batch it uses (an append counts its events)

    def apply(self, conn: sqlite3.Connection) -> T:
        raise NotImplementedError

    @classmethod
    def apply_all(cls, conn: sqlite3.Connection, ops: Sequence[Self]) -> list[T]:
        """Apply ops of this class that were queued back to back, in order, one result each.

        Override to share statements between them (appends share one INSERT).
        """
        return [op.apply(conn) for op in ops]

    def committed(self, result: T) -> None:
        """Called in the writer thread after the commit, before the caller's future settles."""


@dataclass(slots=True)
class _Request:
    op: WriteOp[Any]
    future: _Future
    loop: asyncio.AbstractEventLoop | None  # None for a thread blocked on a concurrent future


_STOP = object()


class GroupCommitWriter:
    """The single writer thread, owning its own connection until `stop()` and `join()`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        after_commit: Callable[[], None],
        max_batch: int = 10_000,
        name: str = "event-log-writer",
    ) -> None:
        self._conn = conn
        self._after_commit = after_commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Request | list[_Request] | object] = queue.SimpleQueue()
        self._submit_lock = threading.Lock()  # makes "not stopped, then enqueue" atomic
        # Submitted in this iteration of each event loop, not yet queued (its thread only).
        self._staged: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
        self._stopped = False
        self.commits = 0  # transactions committed: fewer than writes means grouping works
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, op: WriteOp[T]) -> asyncio.Future[T]:
        """Queue `op` from a coroutine; the future resolves once it is committed."""
        if self._stopped:
            raise LogClosed("the event log is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        staged = self._staged.get(loop)
        if staged is None:
            staged = self._staged[loop] = []
            loop.call_soon(self._hand_over, loop)
        staged.append(_Request(op, future, loop))
        return future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """Queue what `loop` staged, as one item."""
        staged = self._staged.pop(loop, None)
        if not staged:
            return
        with self._submit_lock:
            if not self._stopped:
                self._queue.put(staged)
                return
        _set_all(
            [(request.future, LogClosed("the event log is closed"), None) for request in staged]
        )

    def run(self, op: WriteOp[T]) -> T:
        """Queue `op` and block this thread until it is committed (never call from the writer)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._enqueue(_Request(op, future, None))
        return future.result()

    def stop(self) -> None:
        """Accept nothing more; the thread exits after committing what is already submitted.

        Call it from the event loop that submits (or with no loop running).
        """
        with suppress(RuntimeError):  # no running loop: nothing of it can be staged
            self._hand_over(asyncio.get_running_loop())
        with self._submit_lock:
            if not self._stopped:
                self._stopped = True
                self._queue.put(_STOP)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        """After join(): nothing to release (the thread closed its connection)."""

    def _enqueue(self, request: _Request) -> None:
        with self._submit_lock:
            if self._stopped:
                raise LogClosed("the event log is closed")
            self._queue.put(request)

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._next_batch()
                if batch:
                    self._commit(batch)
        finally:
            with self._submit_lock:
                self._stopped = True
            self._conn.close()
            self._fail_leftovers()

    def _next_batch(self) -> tuple[list[_Request], bool]:
        item = self._queue.get()
        batch: list[_Request] = []
        size = 0
        while item is not _STOP:
            requests = item if isinstance(item, list) else [item]
            for request in requests:
                assert isinstance(request, _Request)
                batch.append(request)
                size += request.op.size
            if size >= self._max_batch:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _commit(self, batch: list[_Request]) -> None:
        outcomes: list[_Outcome]
        try:
            results = commit_batch(self._conn, [request.op for request in batch])
        except LogError as error:
            outcomes = [(request.future, error, None) for request in batch]
        else:
            self.commits += 1
            outcomes = [
                (request.future, None, result)
                for request, result in zip(batch, results, strict=True)
            ]
            done = [(request.op, result) for request, result in zip(batch, results, strict=True)]
            run_commit_hooks(done, self._after_commit)
        self._settle(batch, outcomes)

    def _settle(self, batch: list[_Request], outcomes: list[_Outcome]) -> None:
        per_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for request, outcome in zip(batch, outcomes, strict=True):
            if request.loop is None:
                _set(outcome)
            else:
                per_loop.setdefault(request.loop, []).append(outcome)
        for loop, loop_outcomes in per_loop.items():
            with suppress(RuntimeError):  # that loop is closed: nobody waits for these any more
                loop.call_soon_threadsafe(_set_all, loop_outcomes)

    def _fail_leftovers(self) -> None:
        batch: list[_Request] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Request):
                batch.append(item)
            elif isinstance(item, list):
                batch += item
        closed: list[_Outcome] = [
            (request.future, LogClosed("the event log is closed"), None) for request in batch
        ]
        self._settle(batch, closed)


def commit_batch(conn: sqlite3.Connection, ops: Sequence[WriteOp[Any]]) -> list[Any]:
    """Apply `ops` in one transaction, in order (consecutive ops of one kind together, so they
    can share statements), and commit: one result per op. Anything failing fails them all:
    rolled back, raised as a LogError."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        results: list[Any] = []
        for _kind, run in itertools.groupby(ops, key=type):
            batch = list(run)
            results += type(batch[0]).apply_all(conn, batch)
        conn.execute("COMMIT")
    except LogError:
        _rollback(conn)
        raise
    except Exception as error:
        _rollback(conn)
        raise translate_error(error, "committing to the event log") from error
    return results


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with suppress(sqlite3.Error):  # a failed COMMIT may already have ended it
            conn.execute("ROLLBACK")


def run_commit_hooks(
    done: Sequence[tuple[WriteOp[Any], Any]], after_commit: Callable[[], None]
) -> None:
    """After a commit: each write's `committed` hook with its result, then `after_commit`.

    The writes are durable, so their callers still succeed if a hook fails; only an in-memory
    view missed them. A bug, logged, but not one to stop the writer for.
    """
    try:
        for op, result in done:
            op.committed(result)
        after_commit()
    except Exception:
        _logger.exception("event log: a post-commit hook failed")


def _set(outcome: _Outcome) -> None:
    future, error, result = outcome
    if future.done():  # the caller was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _set_all(outcomes: list[_Outcome]) -> None:
    for outcome in outcomes:
        _set(outcome)
