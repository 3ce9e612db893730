"""The log's writer process (`--log-writer process`): its side of the pipes.

    python -m local_broker.writerchild PATH DEDUP_WINDOW_SECONDS READ_FD WRITE_FD

It owns the log's one writer connection and the dedup index. It answers READY once the file is
open, then for each frame of writes (`frames.py`) applies them in one transaction, exactly as the
writer thread does (consecutive appends share their statements), commits, and answers with the
results or with the error that rolled the whole frame back. It exits when its input ends: an
empty frame (the broker closing the log) or the pipe closing (the broker died; what it was
committing then was acknowledged to nobody, which at-least-once delivery allows).

SIGINT and SIGTERM are ignored: a terminal's Ctrl-C reaches the whole process group, and the
broker must first hand over and commit what it accepted.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from local_broker.frames import (
    READY,
    Failure,
    Wire,
    read_frame,
    write_frame,
)
from local_broker.groupcommit import WriteOp, as_log_error
from local_broker.logerrors import LogError
from local_broker.logschema import connect
from local_broker.logwrites import Columns, DedupIndex, store_events


def apply_writes(
    conn: sqlite3.Connection, dedup: DedupIndex, writes: Sequence[Wire]
) -> list[Any] | Failure:
    """The writes of one frame in one transaction: their results, or why none was stored."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        results: list[Any] = []
        for appends, run in itertools.groupby(writes, key=lambda write: isinstance(write, tuple)):
            if appends:
                results += store_events(conn, dedup, [_append(write) for write in run])
            else:
                for _kind, ops in itertools.groupby(map(_op, run), key=type):
                    batch = list(ops)
                    results += type(batch[0]).apply_all(conn, batch)
        conn.execute("COMMIT")
    except Exception as error:  # anything failing the frame fails every write in it
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # a failed COMMIT may have ended it
                conn.execute("ROLLBACK")
        failure = as_log_error(error)
        return Failure(type(failure).__name__, str(failure))
    return results


def _append(write: Wire) -> tuple[float, Sequence[Columns]]:
    assert isinstance(write, tuple)
    return write


def _op(write: Wire) -> WriteOp[Any]:
    assert isinstance(write, WriteOp)
    return write


def serve(path: Path, dedup_window: float, source: BinaryIO, sink: BinaryIO) -> None:
    try:
        conn = connect(path, writer=True)
    except LogError as error:
        write_frame(sink, Failure(type(error).__name__, str(error)))
        return
    try:
        dedup = DedupIndex(dedup_window)
        write_frame(sink, READY)
        while (writes := read_frame(source)) is not None:
            write_frame(sink, apply_writes(conn, dedup, writes))
    except BrokenPipeError:
        pass  # the broker is gone: nobody waits for the answer
    finally:
        conn.close()


def main(argv: Sequence[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    path, window, read_fd, write_fd = argv
    with (
        open(int(read_fd), "rb", buffering=1 << 16) as source,
        open(int(write_fd), "wb", buffering=0) as sink,
    ):
        serve(Path(path), float(window), source, sink)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
