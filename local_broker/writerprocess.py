"""The log's group-commit writer in a process of its own (`--log-writer process`).

The writer thread (`groupcommit.py`) shares the event loop's GIL: the sqlite3 module lets go of
it around every statement, and under load each group commit then waits milliseconds for the
busy loop to give it back, while loop and writer together never use more than one core
(docs/benchmarks.md, "The broker's ratio taken apart"). Here the writes go to a child process
(`writerchild.py`) that holds the log's writer connection and the dedup index, and the event
loop itself drives the pipes, with no thread in between:

- what was submitted during one iteration of the loop goes out as one frame (`frames.py`),
  with at most one frame in flight: while the child commits, the next one accumulates, which
  is group commit as the thread does it;
- the child answers each frame after its commit; the loop reads the answer in a reader
  callback, runs each write's `committed` hook (the memory tail), settles the futures, calls
  `after_commit` and sends what accumulated.

The guarantees are the writer thread's: a future resolves only after its write is durably
committed; a failed frame fails every write in it and nothing of it is stored; `stop()` accepts
nothing more and the child exits after committing everything submitted before it. If the child
dies, whatever was in flight or submitted fails with LogWriteFailed and so does every later
write (the ingress answers 503): restart the broker.

One event loop drives it at a time. `run()` serves threads that block (pruning): through the
loop once one is attached, or over the pipes directly before that.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from local_broker.frames import CLOSED, END, Failure, Wire, encode_frame
from local_broker.groupcommit import GroupCommitWriter, WriteOp, run_commit_hooks
from local_broker.logerrors import LogClosed, LogError, LogWriteFailed
from local_broker.logwrites import AppendEvents
from local_broker.writerpipes import WriterPipes

T = TypeVar("T")
_logger = logging.getLogger(__name__)


class _Request:
    # A plain class, not a dataclass: compiled, a dataclass keeps its generated (interpreted)
    # __init__, and one of these is made per event (docs/benchmarks.md, thirteenth session).
    __slots__ = ("future", "op")

    def __init__(self, op: WriteOp[Any], future: asyncio.Future[Any]) -> None:
        self.op = op
        self.future = future


def _wire(op: WriteOp[Any]) -> Wire:
    return op.columns() if isinstance(op, AppendEvents) else op


class ProcessWriter:
    """The writer process and the broker's ends of its two pipes."""

    def __init__(
        self, path: Path, dedup_window: float, *, after_commit: Callable[[], None]
    ) -> None:
        self._pipes = WriterPipes(path, dedup_window)
        self._child = self._pipes.process
        self._after_commit = after_commit
        self._lock = threading.Lock()  # the pipes, until an event loop drives them
        self._loop: asyncio.AbstractEventLoop | None = None
        self._staged: list[_Request] = []
        self._inflight: list[_Request] | None = None
        self._stopped = False  # accepts nothing more
        self._ended = False  # END sent
        self._failure: LogError | None = None
        self.commits = 0

    # -- from the event loop ---------------------------------------------------------------

    def submit(self, op: WriteOp[T]) -> asyncio.Future[T]:
        """Queue `op` from a coroutine; the future resolves once it is committed."""
        if self._failure is not None:
            raise type(self._failure)(str(self._failure))
        if self._stopped:
            raise LogClosed("the event log is closed")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._attach(loop)
        future: asyncio.Future[T] = loop.create_future()
        self._staged.append(_Request(op, future))
        if len(self._staged) == 1:
            loop.call_soon(self._send)
        return future

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if self._inflight is not None or self._staged:
                raise RuntimeError("the log writer is driven by another event loop")
            self._detach()
            self._loop = loop
            loop.add_reader(self._pipes.answers_fd, self._readable)

    def _send(self) -> None:
        if self._inflight is not None or self._failure is not None or self._ended:
            return
        if self._staged:
            batch, self._staged = self._staged, []
            self._inflight = batch
            self._write(encode_frame([_wire(request.op) for request in batch]))
        elif self._stopped:
            self._ended = True
            self._write(END)

    def _write(self, data: bytes) -> None:
        # A blocking write: the child reads a frame as soon as it has answered the last one, and
        # only one is in flight, so this waits at most for the child to take in a large frame.
        try:
            self._pipes.send(data)
        except OSError as error:
            self._fail(LogWriteFailed(f"the log writer process is gone: {error}"))

    def _readable(self) -> None:
        try:
            answers = self._pipes.received()
        except OSError as error:
            self._fail(LogWriteFailed(f"the log writer process is gone: {error}"))
            return
        if answers is None:
            self._gone()
            return
        for answer in answers:
            self._settle(answer)
        self._send()

    def _settle(self, answer: object) -> None:
        batch, self._inflight = self._inflight, None
        if batch is None:
            _logger.error("event log: the writer process answered a frame nobody sent")
            return
        if isinstance(answer, Failure):
            error = answer.error()
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            return
        assert isinstance(answer, list)
        self.commits += 1
        done = [(request.op, result) for request, result in zip(batch, answer, strict=True)]
        run_commit_hooks(done, self._after_commit)
        for request, result in zip(batch, answer, strict=True):
            if not request.future.done():  # its caller was cancelled
                request.future.set_result(result)

    def _gone(self) -> None:
        if self._ended and self._inflight is None:
            self._detach()  # the orderly end
            return
        self._fail(LogWriteFailed(f"the log writer process exited ({self._child.poll()})"))

    def _fail(self, error: LogError) -> None:
        if self._failure is None:
            _logger.error("event log: %s; restart the broker", error)
        self._failure = error
        waiting = [*(self._inflight or []), *self._staged]
        self._inflight, self._staged = None, []
        for request in waiting:
            if not request.future.done():
                request.future.set_exception(error)
        self._detach()
        self._pipes.close_input()  # should the child still run, the end of its input stops it

    def _detach(self) -> None:
        fd = self._pipes.answers_fd
        if self._loop is not None and not self._loop.is_closed() and fd >= 0:
            # typeshed says bool, uvloop returns None: compiled code checks what it is told
            remove: Callable[[int], object] = self._loop.remove_reader
            remove(fd)

    # -- from any thread -------------------------------------------------------------------

    def run(self, op: WriteOp[T]) -> T:
        """Queue `op` and block this thread until it is committed."""
        with self._lock:
            loop = self._loop
            if loop is None:
                return self._run_directly(op)
        if _running_loop() is loop:
            # A blocking call on the driving loop's own thread: the loop waits for us, so the
            # answer in flight is read here first, then `op` goes out on its own.
            while self._inflight is not None:
                answer = self._pipes.receive()
                if answer is CLOSED:
                    self._gone()
                    break
                self._settle(answer)
            loop.call_soon(self._send)  # what was staged meanwhile goes out after `op`
            return self._run_directly(op)
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def submit() -> None:
            try:
                future = self.submit(op)
            except LogError as error:
                result.set_exception(error)
                return
            future.add_done_callback(lambda done: _copy(done, result))

        try:
            loop.call_soon_threadsafe(submit)
        except RuntimeError:  # the loop is closed
            raise LogClosed("the event log is closed") from None
        return result.result()

    def _run_directly(self, op: WriteOp[T]) -> T:
        """Before any loop drives the pipes: one frame, and wait for its answer."""
        if self._failure is not None:
            raise type(self._failure)(str(self._failure))
        if self._stopped:
            raise LogClosed("the event log is closed")
        self._write(encode_frame([_wire(op)]))
        answer = self._pipes.receive()
        if isinstance(answer, Failure):
            raise answer.error()
        if not isinstance(answer, list):
            self._fail(LogWriteFailed("the log writer process is gone"))
            raise LogWriteFailed("the log writer process is gone")
        self.commits += 1
        run_commit_hooks([(op, answer[0])], self._after_commit)
        result: T = answer[0]
        return result

    def stop(self) -> None:
        """Accept nothing more; the child exits after committing what is already submitted.

        Call it from the event loop that drives the writer (or with none attached).
        """
        self._stopped = True
        self._send()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the child to exit (the loop keeps reading its last answers meanwhile)."""
        try:
            self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            return

    def close(self) -> None:
        """After join(): release the pipes (from the loop that drove them, if any)."""
        self._detach()
        self._pipes.close()


def open_writer(
    conn: sqlite3.Connection,
    process_for: Path | None,
    dedup_window: float,
    after_commit: Callable[[], None],
) -> GroupCommitWriter | ProcessWriter:
    """A log's writer: a thread writing through `conn`, or, with the log's path as
    `process_for`, a process of its own, which opens its own connection (`conn` is closed: one
    writer connection at a time)."""
    if process_for is None:
        return GroupCommitWriter(conn, after_commit=after_commit)
    conn.close()
    return ProcessWriter(process_for, dedup_window, after_commit=after_commit)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _copy(done: asyncio.Future[T], result: concurrent.futures.Future[T]) -> None:
    if done.cancelled():
        result.cancel()
    elif (error := done.exception()) is not None:
        result.set_exception(error)
    else:
        result.set_result(done.result())
