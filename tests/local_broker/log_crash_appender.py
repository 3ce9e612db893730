"""Appends events to an EventLog under load and prints each acknowledged one, until killed.

    python log_crash_appender.py PATH ID_PREFIX WORKERS EVENTS_PER_WORKER

Each line is `SEQ ID`, printed (and flushed) only after `append` returned that sequence number:
every printed line is a promise the log must keep across a SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from local_broker.event import CloudEvent
from local_broker.log import EventLog


async def append_events(log: EventLog, prefix: str, worker: int, count: int) -> None:
    for n in range(0, count, 2):
        # Two events per append, as a batch-mode POST would bring them.
        ids = [f"{prefix}{worker}-{n}", f"{prefix}{worker}-{n + 1}"]
        events = [
            CloudEvent({"specversion": "1.0", "id": i, "source": "/crash", "type": "t"}, b"x" * 512)
            for i in ids
        ]
        sequences = await log.append(events, now=time.time())
        sys.stdout.write("".join(f"{seq} {i}\n" for seq, i in zip(sequences, ids, strict=True)))
        sys.stdout.flush()


async def main(path: Path, prefix: str, workers: int, per_worker: int) -> None:
    log = EventLog.open(path)
    await asyncio.gather(
        *(append_events(log, prefix, worker, per_worker) for worker in range(workers))
    )
    await log.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
