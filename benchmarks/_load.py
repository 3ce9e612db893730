"""The load the broker benchmarks post, and what each process spends on it.

`wrk` (https://github.com/wg/wrk) drives the throughput phases with `cloudevents.lua`, which
gives every event its own id; `blast` and `paced` are the Python clients for warm-ups and the
paced latency phase. CPU is read per process session from /proc (`_servers.session_cpu`) and,
for wrk, from the rusage of reaped children.
"""

from __future__ import annotations

import asyncio
import re
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 64
PHASE_TIMEOUT = 60.0
WRK_SCRIPT = ROOT / "benchmarks" / "cloudevents.lua"
WRK_MISSING = (
    "benchmarks/broker.py drives the load with wrk, which is not installed.\n"
    "Install it (Debian/Ubuntu: `sudo apt-get install -y wrk`; macOS: `brew install wrk`) "
    "and run this again."
)


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int  # completed
    failed: int  # non-2xx answers plus socket errors
    seconds: float
    cpu: float  # wrk's own CPU seconds (user + system)

    @property
    def accepted(self) -> int:
        return self.requests - self.failed


async def wrk(url: str, seconds: int, connections: int) -> WrkResult:
    """POST unique binary-mode events to `url` for `seconds` from `connections` connections."""
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit(WRK_MISSING)
    args = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(WRK_SCRIPT), url]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    start = time.perf_counter()
    # wrk is the only child reaped while it runs: the servers are reaped when their phase ends.
    children_before = _children_cpu()
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds + PHASE_TIMEOUT)
    except TimeoutError:
        process.kill()
        raise
    elapsed = time.perf_counter() - start
    found = re.search(rb"RESULT (\d+) (\d+) (\d+)", out)
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {(out + err).decode()[-500:]}")
    requests, non_2xx, socket_errors = map(int, found.groups())
    cpu = _children_cpu() - children_before
    return WrkResult(requests, non_2xx + socket_errors, min(elapsed, float(seconds)), cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class Cpu:
    """CPU microseconds per event of one throughput phase, by process."""

    server: float  # the server wrk posts to: the bare hop, the relay or the broker
    subscriber: float  # 0.0 for the bare hop, which has none
    wrk: float


def budget_us(cpus: int, rate: float, *costs_us: float) -> float:
    """CPU microseconds per event that `cpus` cores leave at `rate` events/s once `costs_us`
    (the other processes' CPU per event) are paid."""
    return cpus / rate * 1e6 - sum(costs_us)


def per_event_us(cpu_seconds: float, events: int) -> float:
    return cpu_seconds / max(events, 1) * 1e6


def event_headers(index: int) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": f"bench-{index}-{time.monotonic_ns()}",
        "ce-source": "/bench",
        "ce-type": "dev.shoal.bench",
        "ce-benchsent": str(time.time_ns()),
        "content-type": "application/json",
    }


BODY = b'{"replica": "web-1", "node": "n1"}'


async def blast(url: str, count: int) -> float:
    """Post `count` events as fast as CONCURRENCY connections allow; returns seconds."""
    indexes = iter(range(count))
    deadline = time.monotonic() + PHASE_TIMEOUT

    async def worker(session: aiohttp.ClientSession) -> None:
        for index in indexes:
            if time.monotonic() > deadline:
                return
            async with session.post(url, data=BODY, headers=event_headers(index)) as response:
                await response.read()

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return time.perf_counter() - start


async def paced(url: str, rate: float, seconds: float) -> None:
    """Post at a fixed rate (open loop) for `seconds`."""
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        total = int(rate * seconds)
        tasks = []

        async def one(index: int) -> None:
            async with session.post(url, data=BODY, headers=event_headers(index)) as response:
                await response.read()

        for index in range(total):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.wait_for(asyncio.gather(*tasks), PHASE_TIMEOUT)
