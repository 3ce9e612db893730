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
import contextlib
import logging
import os
import select
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from local_broker.frames import END, READY, Failure, FrameReader, Wire, encode_frame
from local_broker.groupcommit import WriteOp, run_commit_hooks
from local_broker.logerrors import LogClosed, LogError, LogWriteFailed
from local_broker.logwrites import AppendEvents

T = TypeVar("T")
_logger = logging.getLogger(__name__)
START_TIMEOUT = 30.0  # seconds for the child to open the log (a migration may run first)


@dataclass(slots=True)
class _Request:
    op: WriteOp[Any]
    future: asyncio.Future[Any]


def _wire(op: WriteOp[Any]) -> Wire:
    return op.columns() if isinstance(op, AppendEvents) else op


class ProcessWriter:
    """The writer process and the broker's ends of its two pipes."""

    def __init__(
        self, path: Path, dedup_window: float, *, after_commit: Callable[[], None]
    ) -> None:
        child_in, self._out = os.pipe()
        self._in, child_out = os.pipe()
        command = [sys.executable, "-m", "local_broker.writerchild", str(path), repr(dedup_window)]
        try:
            self._child = subprocess.Popen(
                [*command, str(child_in), str(child_out)], pass_fds=(child_in, child_out)
            )
        except BaseException:
            for fd in (self._out, self._in):
                os.close(fd)
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        self._after_commit = after_commit
        self._frames = FrameReader()
        self._lock = threading.Lock()  # the pipes, until an event loop drives them
        self._loop: asyncio.AbstractEventLoop | None = None
        self._staged: list[_Request] = []
        self._inflight: list[_Request] | None = None
        self._stopped = False  # accepts nothing more
        self._ended = False  # END sent
        self._failure: LogError | None = None
        self.commits = 0
        self._expect_ready()

    def _expect_ready(self) -> None:
        answer = self._read_blocking(START_TIMEOUT)
        if answer == READY:
            return
        self._close_pipes()  # a child still starting reads the end of its input and exits
        try:
            self._child.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if isinstance(answer, Failure):
            raise answer.error()
        raise LogWriteFailed("the log writer process did not start")

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
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._in)
            self._loop = loop
            loop.add_reader(self._in, self._readable)

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
        if self._out < 0:
            self._fail(LogWriteFailed("the log writer process is gone"))
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._out, view) :]
        except OSError as error:
            self._fail(LogWriteFailed(f"the log writer process is gone: {error}"))

    def _readable(self) -> None:
        try:
            data = os.read(self._in, 1 << 20)
        except BlockingIOError:
            return
        except OSError as error:
            self._fail(LogWriteFailed(f"the log writer process is gone: {error}"))
            return
        if not data:
            self._gone()
            return
        for answer in self._frames.feed(data):
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
        self._close_out()  # should the child still run, the end of its input stops it

    def _detach(self) -> None:
        if self._loop is not None and not self._loop.is_closed() and self._in >= 0:
            self._loop.remove_reader(self._in)

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
                answer = self._read_blocking(None)
                if answer is None:
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
        answer = self._read_blocking(None)
        if isinstance(answer, Failure):
            raise answer.error()
        if not isinstance(answer, list):
            self._fail(LogWriteFailed("the log writer process is gone"))
            raise LogWriteFailed("the log writer process is gone")
        self.commits += 1
        run_commit_hooks([(op, answer[0])], self._after_commit)
        result: T = answer[0]
        return result

    def _read_blocking(self, timeout: float | None) -> object:
        """The next answer, read with the pipe in blocking mode; None if the child is gone."""
        os.set_blocking(self._in, True)
        try:
            while True:
                if timeout is not None:
                    ready, _, _ = select.select([self._in], [], [], timeout)
                    if not ready:
                        return None
                data = os.read(self._in, 1 << 20)
                if not data:
                    return None
                answers = self._frames.feed(data)
                if answers:
                    return answers[0]
        finally:
            os.set_blocking(self._in, False)

    def stop(self) -> None:
        """Accept nothing more; the child exits after committing what is already submitted.

        Call it from the event loop that drives the writer (or with none attached).
        """
        self._stopped = True
        if self._loop is None:
            if not self._ended:
                self._ended = True
                self._write(END)
        else:
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
        self._close_pipes()

    def _close_out(self) -> None:
        if self._out >= 0:
            with contextlib.suppress(OSError):
                os.close(self._out)
            self._out = -1  # never write to a number the process may reuse for another file

    def _close_pipes(self) -> None:
        self._close_out()
        if self._in >= 0:
            with contextlib.suppress(OSError):
                os.close(self._in)
            self._in = -1


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
