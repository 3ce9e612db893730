"""Every acknowledged event survives a SIGKILL of the process that appended it.

The appender runs in a subprocess and prints each event only after `append` returned; the test
kills it mid-load a few times over on the same file (each round also proves the log reopens
after a crash and carries on), then checks every printed event is in the file. A lost
acknowledgement shows up only if a kill lands between an ack and its commit, so more rounds
catch more; the rounds are short and bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from local_broker.event import CloudEvent
from local_broker.log import EventLog

APPENDER = Path(__file__).with_name("log_crash_appender.py")
REPO = Path(__file__).resolve().parents[2]
ROUNDS = 3
KILL_AFTER_ACKS = (700, 1100, 1500)
ROUND_DEADLINE_SECONDS = 3.0


def run_and_kill(path: Path, prefix: str, kill_after: int) -> tuple[list[str], int]:
    """Start the appender, SIGKILL it once enough acks arrived (or the deadline passed)."""
    process = subprocess.Popen(
        # 20 workers x 5,000 events: far more than can be appended before the kill
        [sys.executable, str(APPENDER), str(path), prefix, "20", "5000"],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # the code under test, installed or not
    )
    lines: list[str] = []
    enough = threading.Event()

    def collect() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append(raw.decode())
            if len(lines) >= kill_after:
                enough.set()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        enough.wait(timeout=ROUND_DEADLINE_SECONDS)
    finally:
        process.send_signal(signal.SIGKILL)
        returncode = process.wait(timeout=10)
        reader.join(timeout=10)  # the rest of the pipe was acknowledged before the kill, too
    return lines, returncode


async def test_acknowledged_events_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash" / "events.db"
    acknowledged: dict[str, str] = {}
    for round_number in range(ROUNDS):
        lines, returncode = await asyncio.to_thread(
            run_and_kill, path, f"r{round_number}w", KILL_AFTER_ACKS[round_number]
        )
        assert returncode == -signal.SIGKILL, "the appender ended before it was killed"
        acked = dict(line.split() for line in lines if line.endswith("\n"))  # whole lines only
        assert len(acked) >= 100, "too little load reached the log before the kill"
        assert not acked.keys() & acknowledged.keys(), "a sequence number was handed out twice"
        acknowledged |= acked

    log = EventLog.open(path)
    try:
        stored = {str(record.seq): record.event.id for record in log.read_range(0, 1_000_000)}
        missing = {seq: i for seq, i in acknowledged.items() if stored.get(seq) != i}
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {list(missing)[:5]}"
        assert log.head() == len(stored)  # no gap and no half-written event
        head = log.head()
        event = CloudEvent({"specversion": "1.0", "id": "after", "source": "/crash", "type": "t"})
        assert await log.append([event], now=time.time()) == [head + 1]
    finally:
        await log.close()
