"""Frames between the broker and its log writer process: a 4-byte big-endian length, then a
pickle of plain data.

What crosses: appends as (arrival time, [(source, id, type, attributes JSON, data), ...]); the
other writes (cursor flushes, pruning, dead letters) as their `WriteOp` objects, which hold only
numbers, strings and bytes; the answers: READY once the child has the log open, then for each
frame of writes the list of their results, or the `Failure` that rolled them all back. A frame
of length 0 ends the child's input. Pickle is safe here: both ends are one broker and the pipes
are nobody else's.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

from local_broker.groupcommit import WriteOp
from local_broker.logerrors import LogClosed, LogCorrupt, LogError, LogInUse, LogWriteFailed
from local_broker.logwrites import Columns

_LENGTH: Final = struct.Struct(">I")
END: Final = _LENGTH.pack(0)
READY: Final = "ready"
Wire = tuple[float, Sequence[Columns]] | WriteOp[Any]
_ERRORS: Final[dict[str, type[LogError]]] = {
    kind.__name__: kind for kind in (LogError, LogClosed, LogCorrupt, LogInUse, LogWriteFailed)
}


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a frame of writes was rolled back (or the log could not be opened)."""

    kind: str  # the LogError subclass's name
    message: str

    def error(self) -> LogError:
        return _ERRORS.get(self.kind, LogWriteFailed)(self.message)


def encode_frame(value: object) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def write_frame(sink: BinaryIO, value: object) -> None:
    """Write one frame whole to an unbuffered blocking file."""
    view = memoryview(encode_frame(value))
    while view:
        view = view[sink.write(view) or 0 :]


def read_frame(source: BinaryIO) -> Any | None:
    """The next frame's value from a blocking file; None at the end of the input."""
    head = source.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    if size == 0:
        return None
    payload = source.read(size)
    return None if len(payload) < size else pickle.loads(payload)


class FrameReader:
    """Frames out of the bytes of a non-blocking pipe, as they arrive."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        values = []
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            end = _LENGTH.size + size
            if len(self._buffer) < end:
                break
            values.append(pickle.loads(self._buffer[_LENGTH.size : end]))
            del self._buffer[:end]
        return values
