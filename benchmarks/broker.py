"""Broker throughput and latency against a bare HTTP hop, measured in one run.

    .venv/bin/python benchmarks/broker.py [--events 20000]

(a) bare hop: the load generator posts to a minimal async server answering 202;
(b) the broker: ingress -> durable log -> one Trigger -> a minimal subscriber, events/s
    delivered, and p50/p99 ingress-to-subscriber latency at a paced 1,000 events/s;
(c) fan-out: one event to 10 Triggers;
(d) matching: 1,000 Triggers (in-process filter cost per event, and end to end).
Every phase is bounded in count and time. Each server runs in its own process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import uvloop
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local_broker.event import CloudEvent  # noqa: E402
from local_broker.filters import compile_filter  # noqa: E402
from tests.e2e.conftest import free_port, wait_http_ok  # noqa: E402

CONCURRENCY = 64
PHASE_TIMEOUT = 60.0


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
        await asyncio.gather(*tasks)


async def sink_stats(sink: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.get(f"{sink}/stats") as response:
        stats: dict[str, object] = json.loads(await response.read())
        return stats


async def reset_sink(sink: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{sink}/reset"):
        pass


async def wait_count(sink: str, expected: int) -> float:
    """Seconds until the sink has seen `expected` events (bounded by PHASE_TIMEOUT)."""
    deadline = time.perf_counter() + PHASE_TIMEOUT
    while time.perf_counter() < deadline:
        stats = await sink_stats(sink)
        if int(stats["count"]) >= expected:  # type: ignore[call-overload]
            return time.perf_counter()
        await asyncio.sleep(0.01)
    raise RuntimeError(f"the sink saw fewer than {expected} events in {PHASE_TIMEOUT} s")


@contextmanager
def process(args: list[str], health: str) -> Iterator[None]:
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http_ok(health, 20.0, child)
        yield
    finally:
        child.terminate()
        child.wait(timeout=20)


@contextmanager
def broker(triggers: list[dict[str, object]]) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        manifests = Path(tmp) / "triggers.yaml"
        manifests.write_text(yaml.safe_dump_all(triggers))
        port = free_port()
        args = [
            sys.executable,
            "-m",
            "shoal.cli.main",
            "broker",
            "--manifests",
            str(manifests),
            "--port",
            str(port),
            "--data-dir",
            str(Path(tmp) / "data"),
        ]
        with process(args, f"http://127.0.0.1:{port}/readyz"):
            yield f"http://127.0.0.1:{port}/default/default"


def trigger(name: str, subscriber: str, event_type: str = "dev.shoal.bench") -> dict[str, object]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {
            "broker": "default",
            "filter": {"attributes": {"type": event_type}},
            "subscriber": {"uri": subscriber},
        },
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(events: int) -> None:
    helper = str(ROOT / "benchmarks" / "_sink.py")
    bare_port, sink_port = free_port(), free_port()
    sink = f"http://127.0.0.1:{sink_port}"
    rows: list[tuple[str, str]] = []
    with process([sys.executable, helper, "sink", str(sink_port)], f"{sink}/stats"):
        with process(
            [sys.executable, helper, "bare", str(bare_port)], f"http://127.0.0.1:{bare_port}/health"
        ):
            await blast(f"http://127.0.0.1:{bare_port}/", min(events, 2000))  # warm up
            bare_rate = events / await blast(f"http://127.0.0.1:{bare_port}/", events)
        rows.append(("(a) bare hop, requests/s", f"{bare_rate:,.0f}"))

        with broker([trigger("one", f"{sink}/one")]) as ingress:
            await blast(ingress, 1000)
            await wait_count(sink, 1000)
            await reset_sink(sink)
            start = time.perf_counter()
            await blast(ingress, events)
            delivered_rate = events / (await wait_count(sink, events) - start)
            await reset_sink(sink)
            await paced(ingress, 1000.0, 5.0)
            await wait_count(sink, 5000)
            latencies = [float(x) for x in await _latencies(sink)]
        rows.append(("(b) broker, 1 trigger, events/s delivered", f"{delivered_rate:,.0f}"))
        rows.append(("    ratio broker / bare hop", f"{delivered_rate / bare_rate:.2f}"))
        rows.append(
            ("    p50 latency at 1,000 events/s (ms)", f"{statistics.median(latencies) * 1000:.2f}")
        )
        rows.append(
            ("    p99 latency at 1,000 events/s (ms)", f"{percentile(latencies, 0.99) * 1000:.2f}")
        )

        await reset_sink(sink)
        fan = max(1000, events // 4)
        with broker([trigger(f"t{i}", f"{sink}/t{i}") for i in range(10)]) as ingress:
            start = time.perf_counter()
            await blast(ingress, fan)
            fan_seconds = await wait_count(sink, fan * 10) - start
        rows.append(("(c) fan-out to 10 triggers, events/s in", f"{fan / fan_seconds:,.0f}"))
        rows.append(("    deliveries/s out", f"{fan * 10 / fan_seconds:,.0f}"))

        rows.append(
            ("(d) 1,000 exact filters, us per event (in-process)", f"{matching_cost_us(1000):.1f}")
        )
        await reset_sink(sink)
        many = [trigger(f"m{i}", f"{sink}/m{i}", f"dev.shoal.other{i}") for i in range(999)]
        with broker([*many, trigger("hit", f"{sink}/hit")]) as ingress:
            count = max(1000, events // 10)
            start = time.perf_counter()
            await blast(ingress, count)
            rate = count / (await wait_count(sink, count) - start)
        rows.append(("    1,000 triggers (1 matching), events/s delivered", f"{rate:,.0f}"))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


async def _latencies(sink: str) -> list[object]:
    stats = await sink_stats(sink)
    values = stats["latencies"]
    assert isinstance(values, list)
    return values


def matching_cost_us(triggers: int) -> float:
    filters = [compile_filter({"type": f"dev.shoal.other{i}"}, None) for i in range(triggers)]
    event = CloudEvent({"specversion": "1.0", "id": "1", "source": "/b", "type": "dev.shoal.x"})
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        for compiled in filters:
            compiled.matches(event)
    return (time.perf_counter() - start) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    uvloop.run(run(args.events))


if __name__ == "__main__":
    main()
