"""Durable-log append throughput: appends/s and commits/s for 1, 10 and 100 concurrent appenders.

    .venv/bin/python benchmarks/log_append.py [--seconds 3] [--max-events 30000] [--uvloop]

Each appender awaits `append([one 1 KiB event])` in a loop, as one ingress request per event
would; every append is a durable (synchronous=FULL) commit shared with whatever else is queued.
Each run uses a fresh log in a temporary directory and stops at the time or event bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from local_broker.event import CloudEvent
from local_broker.log import EventLog

PAYLOAD = b"x" * 1024


@dataclass(frozen=True)
class Figures:
    appenders: int
    events: int
    seconds: float
    cpu_seconds: float  # both threads: what the log costs, however busy the machine is
    commits: int
    latencies: list[float]

    def row(self) -> str:
        latencies = sorted(self.latencies)
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        return (
            f"{self.appenders:>9} {self.events:>8} {self.events / self.seconds:>11,.0f}"
            f" {self.commits / self.seconds:>10,.0f} {self.events / self.commits:>13.1f}"
            f" {p50:>8.2f} {p99:>8.2f} {self.cpu_seconds / self.events * 1e6:>11.0f}"
        )


async def measure(directory: Path, appenders: int, seconds: float, max_events: int) -> Figures:
    log = EventLog.open(directory / f"bench-{appenders}.db")
    latencies: list[float] = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    deadline = started + seconds
    per_appender = max_events // appenders

    async def appender(worker: int) -> None:
        for n in range(per_appender):
            if time.perf_counter() >= deadline:
                return
            attributes = {
                "specversion": "1.0",
                "id": f"{worker}-{n}",
                "source": "/benchmarks/log_append",
                "type": "dev.shoal.benchmark",
            }
            sent = time.perf_counter()
            await log.append([CloudEvent(attributes, PAYLOAD)], now=time.time())
            latencies.append(time.perf_counter() - sent)

    commits_before = log.commits
    await asyncio.gather(*(appender(worker) for worker in range(appenders)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    figures = Figures(appenders, log.head(), elapsed, cpu, log.commits - commits_before, latencies)
    await log.close()
    return figures


async def main(seconds: float, max_events: int) -> None:
    print(f"durable appends of 1 KiB events, at most {seconds:g} s or {max_events:,} per run")
    print(f"load average before: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
    print(
        "appenders   events    appends/s  commits/s  events/commit  p50 ms   p99 ms  CPU us/event"
    )
    with tempfile.TemporaryDirectory(prefix="shoal-log-bench-") as directory:
        for appenders in (1, 10, 100):
            figures = await measure(Path(directory), appenders, seconds, max_events)
            print(figures.row(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time bound per run")
    parser.add_argument("--max-events", type=int, default=30_000, help="event bound per run")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as the broker does")
    options = parser.parse_args()
    run = main(options.seconds, options.max_events)
    if options.uvloop:
        import uvloop

        uvloop.run(run)
    else:
        asyncio.run(run)
