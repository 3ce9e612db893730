"""The log's writer process (`--log-writer process`): its side of the pipes.

    python -m local_broker.writerchild PATH DEDUP_WINDOW_SECONDS READ_FD WRITE_FD

It owns the log's one writer connection and the dedup index. It answers READY once the file is
open, then for each frame of writes (`frames.py`) applies them in one transaction with the writer
thread's own `commit_batch` (consecutive appends share their statements), and answers with the
results or with the error that rolled the whole frame back. It exits when its input ends: END
(the broker closing the log) or the pipe closing (the broker died; what it was
committing then was acknowledged to nobody, which at-least-once delivery allows).

SIGINT and SIGTERM are ignored: a terminal's Ctrl-C reaches the whole process group, and the
broker must first hand over and commit what it accepted.
"""

from __future__ import annotations

import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local_broker.frames import CLOSED, READY, Failure, FrameReader, Wire, encode_frame, read_next
from local_broker.frames import write_all as send
from local_broker.groupcommit import WriteOp, commit_batch
from local_broker.logerrors import LogError
from local_broker.logschema import connect
from local_broker.logwrites import Columns, DedupIndex, store_events


class _Append(WriteOp[list[int | None]]):
    """An `AppendEvents` as it crosses the pipe: its arrival time and its events' columns."""

    def __init__(self, write: tuple[float, Sequence[Columns]], dedup: DedupIndex) -> None:
        self._append = write
        self._dedup = dedup

    @classmethod
    def apply_all(cls, conn: sqlite3.Connection, ops: Sequence[_Append]) -> list[list[int | None]]:
        return store_events(conn, ops[0]._dedup, [op._append for op in ops])


def apply_writes(
    conn: sqlite3.Connection, dedup: DedupIndex, writes: Sequence[Wire]
) -> list[Any] | Failure:
    """The writes of one frame in one transaction: their results, or why none was stored."""
    ops = [_Append(write, dedup) if isinstance(write, tuple) else write for write in writes]
    try:
        return commit_batch(conn, ops)
    except LogError as error:
        return Failure.of(error)


def serve(path: Path, dedup_window: float, source: int, sink: int) -> None:
    try:
        conn = connect(path, writer=True)
    except LogError as error:
        send(sink, encode_frame(Failure.of(error)))
        return
    try:
        dedup = DedupIndex(dedup_window)
        send(sink, encode_frame(READY))
        frames = FrameReader()
        while (writes := read_next(source, frames)) is not CLOSED and writes is not None:
            send(sink, encode_frame(apply_writes(conn, dedup, writes)))
    except BrokenPipeError:
        pass  # the broker is gone: nobody waits for the answer
    finally:
        conn.close()


def main(argv: Sequence[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    path, window, read_fd, write_fd = argv
    serve(Path(path), float(window), int(read_fd), int(write_fd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
