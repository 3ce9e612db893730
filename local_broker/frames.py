"""Frames between the broker and its log writer process: a 4-byte big-endian length, then a
pickle of plain data.

What crosses: appends as (arrival time, [(source, id, type, attributes JSON, data), ...]); the
other writes (cursor flushes, pruning, dead letters) as their `WriteOp` objects, which hold only
numbers, strings and bytes; the answers: READY once the child has the log open, then for each
frame of writes the list of their results, or the `Failure` that rolled them all back. END (a
frame holding None) ends the child's input. Pickle is safe here: both ends are one broker and
the pipes are nobody else's.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from local_broker.groupcommit import WriteOp
from local_broker.logerrors import LogClosed, LogCorrupt, LogError, LogInUse, LogWriteFailed
from local_broker.logwrites import Columns

_LENGTH: Final = struct.Struct(">I")
READY: Final = "ready"
READ_BYTES: Final = 1 << 16  # per read: os.read allocates the whole size first, so not more
CLOSED: Final = object()  # what read_next gives at the end of the pipe (or after its timeout)
Wire = tuple[float, Sequence[Columns]] | WriteOp[Any]
_ERRORS: Final[dict[str, type[LogError]]] = {
    kind.__name__: kind for kind in (LogError, LogClosed, LogCorrupt, LogInUse, LogWriteFailed)
}


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a frame of writes was rolled back (or the log could not be opened)."""

    kind: str  # the LogError subclass's name
    message: str

    @classmethod
    def of(cls, error: LogError) -> Failure:
        return cls(type(error).__name__, str(error))

    def error(self) -> LogError:
        return _ERRORS.get(self.kind, LogWriteFailed)(self.message)


def encode_frame(value: object) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


END: Final = encode_frame(None)


def write_all(fd: int, data: bytes) -> None:
    """Write `data` whole to a blocking file descriptor (OSError if the other end is gone)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FrameReader:
    """Frames out of the bytes of a pipe, as they arrive."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def frames(self) -> Iterator[Any]:
        """The values of the complete frames received, each taken out as it is given."""
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            end = _LENGTH.size + size
            if len(self._buffer) < end:
                return
            value = pickle.loads(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            yield value


def read_next(fd: int, reader: FrameReader, timeout: float | None = None) -> Any:
    """The next frame's value from a blocking `fd`; CLOSED at its end, or once `timeout`
    seconds pass without a byte."""
    while True:
        for value in reader.frames():
            return value
        if timeout is not None and not select.select([fd], [], [], timeout)[0]:
            return CLOSED
        data = os.read(fd, READ_BYTES)
        if not data:
            return CLOSED
        reader.feed(data)
