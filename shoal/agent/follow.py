"""Following a replica's output file as it grows, as `tail -f` does (`shoal logs --follow`).

The exec driver's replicas write to a plain file. A follower reads its last lines, then polls
for what is appended until the replica is done: exited (the rest is read once more), stopped
(the file is gone) or restarted (a new run writes a new file, which `shoal logs` follows anew).
Bytes are decoded incrementally, so a character split between two reads stays whole.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

from shoal.agent.exits import output_tail

POLL_SECONDS = 0.25
READ_CHUNK = 1 << 16


async def follow_file(
    path: Path,
    lines: int,
    limit: int,
    *,
    done: Callable[[], bool],
    poll_seconds: float = POLL_SECONDS,
) -> AsyncGenerator[str, None]:
    """The last `lines` lines of `path` (from at most its last `limit` bytes), then each
    appended piece, until `done()` holds (after one last read) or the file is gone."""
    tail, position = await asyncio.to_thread(output_tail, path, lines, limit)
    if tail:
        yield tail
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while True:
        finished = done()  # before reading, so nothing written before the end is missed
        while True:  # everything there is now
            appended = await asyncio.to_thread(_read_from, path, position)
            if appended is None:
                return
            position += len(appended)
            if text := decoder.decode(appended):
                yield text
            if len(appended) < READ_CHUNK:
                break
        if finished:
            if rest := decoder.decode(b"", final=True):
                yield rest
            return
        await asyncio.sleep(poll_seconds)


def _read_from(path: Path, position: int) -> bytes | None:
    """Up to READ_CHUNK bytes from `position` on; None when the file is gone."""
    try:
        with path.open("rb") as file:
            file.seek(position)
            return file.read(READ_CHUNK)
    except OSError:
        return None
