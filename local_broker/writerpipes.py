"""The log's writer process as the broker sees it: the child (`writerchild.py`) and the broker's
ends of its two pipes, which carry the frames of `frames.py`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from local_broker.frames import READ_BYTES, READY, Failure, FrameReader, read_next, write_all
from local_broker.logerrors import LogWriteFailed

START_TIMEOUT = 30.0  # seconds for the child to open the log (a migration may run first)


class WriterPipes:
    """Started by the constructor, which returns once the child has the log open (or raises
    the LogError it met). The answer pipe is non-blocking except inside `receive()`."""

    def __init__(self, path: Path, dedup_window: float) -> None:
        child_in, self._out = os.pipe()
        self._in, child_out = os.pipe()
        command = [sys.executable, "-m", "local_broker.writerchild", str(path), repr(dedup_window)]
        try:
            self.process = subprocess.Popen(
                [*command, str(child_in), str(child_out)], pass_fds=(child_in, child_out)
            )
        except BaseException:
            self.close()
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        self._frames = FrameReader()
        answer = self.receive(START_TIMEOUT)
        if answer == READY:
            return
        self.close()  # a child still starting reads the end of its input and exits
        try:
            self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if isinstance(answer, Failure):
            raise answer.error()
        raise LogWriteFailed("the log writer process did not start")

    @property
    def answers_fd(self) -> int:
        """The answer pipe, for an event loop's reader callback; -1 once closed."""
        return self._in

    def send(self, data: bytes) -> None:
        """One frame, written whole (OSError if the child is gone or the pipe closed)."""
        if self._out < 0:
            raise BrokenPipeError("the pipe to the log writer process is closed")
        write_all(self._out, data)

    def receive(self, timeout: float | None = None) -> Any:
        """The next answer, waited for; CLOSED if the child is gone (or after `timeout`)."""
        os.set_blocking(self._in, True)
        try:
            return read_next(self._in, self._frames, timeout)
        finally:
            os.set_blocking(self._in, False)

    def received(self) -> list[Any] | None:
        """The answers complete so far, without waiting; None at the end of the pipe."""
        try:
            data = os.read(self._in, READ_BYTES)
        except BlockingIOError:
            return []
        if not data:
            return None
        self._frames.feed(data)
        return list(self._frames.frames())

    def close_input(self) -> None:
        """Close the child's input: once it has read what was sent, it exits."""
        if self._out >= 0:
            with contextlib.suppress(OSError):
                os.close(self._out)
            self._out = -1  # never write to a number the process may reuse for another file

    def close(self) -> None:
        self.close_input()
        if self._in >= 0:
            with contextlib.suppress(OSError):
                os.close(self._in)
            self._in = -1
