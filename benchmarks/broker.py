"""Broker throughput and latency against a bare HTTP hop, measured in one run.

    .venv/bin/python benchmarks/broker.py [--seconds 10] [--connections 64] [--servers lean]
        [--log-writer process|thread] [--delivery process|inline]
        [--rounds N]

(a) bare hop: the load generator posts to a minimal async server answering 202;
    bare relay: two hops and nothing else, a server forwarding each event to the subscriber
    and answering 202 once it answered (no log, no matching), on the same server stack as
    (a); with aiohttp also the relay on the broker's own HTTP server and client, in front of
    the same subscriber: what a broker on one core could reach if everything but its two HTTP
    exchanges cost nothing;
(b) the broker: ingress -> durable log -> one Trigger -> a minimal subscriber, events/s
    delivered, and p50/p99 ingress-to-subscriber latency at a paced 1,000 events/s; and the
    CPU it took per event (all threads), beside what the machine's cores would leave it at
    0.5 of the bare hop once wrk and the subscriber had theirs (each at its lowest cost per
    request measured in the run: wrk's in (a), the subscriber's behind the relay);
    Also the ingress alone: the broker with one Trigger that matches nothing, events/s it
    accepts (durably, deduplicated) with nothing to deliver;
(c) fan-out: one event to 10 Triggers;
(d) matching: 1,000 Triggers (in-process filter cost per event, and end to end).

The throughput phases are driven by wrk (https://github.com/wg/wrk; Debian/Ubuntu:
`apt-get install -y wrk`, macOS: `brew install wrk`) with `benchmarks/cloudevents.lua`, which
gives every event its own id: a Python client tops out near the broker's own rate on a small
machine and would measure itself. (a) and (b) use the same wrk settings. The latency phase
paces a Python client, which is enough at 1,000 events/s. Every phase is bounded in time (wrk
runs `--seconds`, every wait has a deadline) and so in count. Each server runs in its own
process on 127.0.0.1. With `--rounds N`, (a), the relay and (b) run N times in turn (each round
with a fresh bare hop, relay and broker) and the table gives medians; (c) and (d) run once.
The broker runs its compiled hot path when a build matches the sources (local_broker/native.py;
the last line says which): `SHOAL_NATIVE=0` before the command measures the Python sources.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import uvloop
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._load import (  # noqa: E402
    CONCURRENCY,
    PHASE_TIMEOUT,
    WRK_MISSING,
    Cpu,
    blast,
    budget_us,
    paced,
    per_event_us,
    wrk,
)
from benchmarks._servers import session_cpu  # noqa: E402
from local_broker import native  # noqa: E402
from local_broker.event import CloudEvent  # noqa: E402
from local_broker.filters import compile_filter  # noqa: E402
from shoal.platform.ports import free_port  # noqa: E402
from tests.e2e.conftest import broker_args, wait_http_ok  # noqa: E402

if TYPE_CHECKING:  # a type only: _sink.py runs in processes of its own
    from benchmarks._sink import SinkStats

BROKER_OPTIONS: list[str] = []  # more `shoal broker` options, from the command line
# How long the subscriber may take to receive everything a throughput phase accepted: the
# broker accepts faster than it delivers 10-fold fan-out, and a loaded machine is slow.
DRAIN_TIMEOUT = 300.0


async def sink_stats(sink: str) -> SinkStats:
    async with aiohttp.ClientSession() as session, session.get(f"{sink}/stats") as response:
        stats: SinkStats = json.loads(await response.read())
        return stats


async def reset_sink(sink: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{sink}/reset"):
        pass


async def sink_count(sink: str) -> int:
    """The sink's count alone: cheap to poll, unlike `/stats` and its lists."""
    async with aiohttp.ClientSession() as session, session.get(f"{sink}/count") as response:
        count: int = json.loads(await response.read())["count"]
        return count


async def wait_count(sink: str, expected: int, timeout: float = PHASE_TIMEOUT) -> float:
    """The time at which the sink has seen `expected` events (bounded by `timeout`)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await sink_count(sink) >= expected:
            return time.perf_counter()
        await asyncio.sleep(0.01)
    raise RuntimeError(f"the sink saw fewer than {expected} events in {timeout} s")


@contextmanager
def process(args: list[str], health: str) -> Iterator[int]:
    """The server started by `args`, once `health` answers; yields its session (its CPU)."""
    child = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_http_ok(health, 20.0, child)
        yield child.pid
    finally:
        child.terminate()
        child.wait(timeout=20)


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    session: int  # its process session, for its CPU time


@contextmanager
def broker(triggers: list[dict[str, object]]) -> Iterator[Served]:
    with tempfile.TemporaryDirectory() as tmp:
        manifests = Path(tmp) / "triggers.yaml"
        manifests.write_text(yaml.safe_dump_all(triggers))
        port = free_port()
        args = [
            sys.executable,
            "-m",
            "shoal.cli.main",
            *broker_args(manifests, port, Path(tmp) / "data"),
            *BROKER_OPTIONS,
        ]
        with process(args, f"http://127.0.0.1:{port}/readyz") as session:
            yield Served(f"http://127.0.0.1:{port}/default/default", session)


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


@dataclass(frozen=True, slots=True)
class Round:
    """One round of (a), the bare relay and (b), measured back to back."""

    bare: float  # requests/s
    relay: float  # events/s
    own_relay: float  # events/s, the relay on the broker's HTTP server and client
    broker: float  # events/s delivered
    failed: int
    alone: float  # events/s accepted by the ingress with nothing to deliver
    alone_cpu: float  # broker CPU us per event accepted then
    bare_cpu: Cpu
    own_relay_cpu: Cpu
    broker_cpu: Cpu
    ingress: tuple[float, float]  # p50, p99 seconds, ingress to subscriber
    sender: tuple[float, float]  # p50, p99 seconds, load generator to subscriber


async def one_round(helper: str, sink: Served, seconds: int, connections: int, lean: bool) -> Round:
    bare_port = free_port()
    bare = f"http://127.0.0.1:{bare_port}/"
    args = [sys.executable, helper, "bare", str(bare_port), *(["lean"] if lean else [])]
    with process(args, f"{bare}health") as session:
        await wrk(bare, 2, connections)  # warm up
        cpu_before = session_cpu(session)
        hop = await wrk(bare, seconds, connections)
        bare_cpu = Cpu(
            per_event_us(session_cpu(session) - cpu_before, hop.requests),
            0.0,
            per_event_us(hop.cpu, hop.requests),
        )
    relay = await bare_relay(helper, sink, seconds, connections, lean)
    own_relay = relay if lean else await bare_relay(helper, sink, seconds, connections, True)
    with broker([trigger("one", f"{sink.url}/one")]) as ingress:
        await warm_up(ingress.url, sink.url, 1)
        delivered = await throughput(ingress, sink, 1, seconds, connections)
        await paced(ingress.url, 1000.0, 5.0)
        await wait_count(sink.url, 5000)
        latencies, ingress_latencies = await sink_latencies(sink.url)
        await reset_sink(sink.url)
    alone, alone_cpu = await ingress_alone(sink, seconds, connections)

    def p50_p99(measured: list[float]) -> tuple[float, float]:
        return statistics.median(measured), percentile(measured, 0.99)

    return Round(
        hop.requests / hop.seconds,
        relay.rate,
        own_relay.rate,
        delivered.rate,
        delivered.failed,
        alone,
        alone_cpu,
        bare_cpu,
        own_relay.cpu,
        delivered.cpu,
        p50_p99(ingress_latencies),
        p50_p99(latencies),
    )


async def ingress_alone(sink: Served, seconds: int, connections: int) -> tuple[float, float]:
    """Events/s the broker accepts, durably, with one Trigger that matches none of them, and its
    CPU us per event: the ingress and the log without delivery."""
    with broker([trigger("none", f"{sink.url}/none", "dev.shoal.nothing")]) as alone:
        await wrk(alone.url, 2, connections)  # warm up
        cpu_before = session_cpu(alone.session)
        stored = await wrk(alone.url, seconds, connections)
        cpu = per_event_us(session_cpu(alone.session) - cpu_before, stored.accepted)
    return stored.accepted / stored.seconds, cpu


def round_rows(rounds: list[Round]) -> list[tuple[str, str]]:
    """(a), the relay and (b): each figure the median over the rounds (ratios per round first)."""
    median = statistics.median

    def ms(pairs: list[tuple[float, float]]) -> str:
        p50, p99 = median([p[0] for p in pairs]), median([p[1] for p in pairs])
        return f"{p50 * 1000:.2f} / {p99 * 1000:.2f}"

    def us(values: list[float]) -> str:
        return f"{median(values):.0f}"

    cpus = os.cpu_count() or 1
    of = f" (median of {len(rounds)})" if len(rounds) > 1 else ""
    rows = [
        (f"(a) bare hop, requests/s{of}", f"{median([r.bare for r in rounds]):,.0f}"),
        (
            "    bare relay (two hops, nothing stored), events/s",
            f"{median([r.relay for r in rounds]):,.0f}",
        ),
        ("    ratio bare relay / bare hop", f"{median([r.relay / r.bare for r in rounds]):.2f}"),
    ]
    if any(r.own_relay != r.relay for r in rounds):
        rows += [
            (
                "    relay on the broker's HTTP server and client, events/s",
                f"{median([r.own_relay for r in rounds]):,.0f}",
            ),
            (
                "    ratio relay on the broker's HTTP stack / bare hop",
                f"{median([r.own_relay / r.bare for r in rounds]):.2f}",
            ),
        ]
    rows.append(
        (
            "    CPU us per event: relay on the broker's HTTP stack / subscriber",
            f"{us([r.own_relay_cpu.server for r in rounds])} / "
            f"{us([r.own_relay_cpu.subscriber for r in rounds])}",
        )
    )
    return [
        *rows,
        ("(b) broker, 1 trigger, events/s delivered", f"{median([r.broker for r in rounds]):,.0f}"),
        ("    ratio broker / bare hop", f"{median([r.broker / r.bare for r in rounds]):.2f}"),
        ("    ratio broker / bare relay", f"{median([r.broker / r.relay for r in rounds]):.2f}"),
        (
            "    ingress alone (a Trigger matching nothing), events/s stored",
            f"{median([r.alone for r in rounds]):,.0f}",
        ),
        (
            "    ratio ingress alone / bare hop; its CPU us per event",
            f"{median([r.alone / r.bare for r in rounds]):.2f}; "
            f"{us([r.alone_cpu for r in rounds])}",
        ),
        (
            "    CPU us per event: broker (all threads) / subscriber / wrk",
            f"{us([r.broker_cpu.server for r in rounds])} / "
            f"{us([r.broker_cpu.subscriber for r in rounds])} / "
            f"{us([r.broker_cpu.wrk for r in rounds])}",
        ),
        (
            f"    CPU us per event {cpus} cores leave the broker at 0.5 of the hop",
            us(
                [
                    budget_us(cpus, 0.5 * r.bare, r.bare_cpu.wrk, r.own_relay_cpu.subscriber)
                    for r in rounds
                ]
            ),
        ),
        (
            "    p50 / p99 at 1,000 events/s, ingress to subscriber (ms)",
            ms([r.ingress for r in rounds]),
        ),
        (
            "    p50 / p99 at 1,000 events/s, sender to subscriber (ms)",
            ms([r.sender for r in rounds]),
        ),
    ]


def print_round(index: int, measured: Round) -> None:
    print(
        f"round {index}: bare hop {measured.bare:,.0f}/s, relay {measured.relay:,.0f}/s, "
        f"broker {measured.broker:,.0f}/s ({measured.broker / measured.bare:.2f} of the hop), "
        f"p99 ingress / sender {measured.ingress[1] * 1000:.2f} / "
        f"{measured.sender[1] * 1000:.2f} ms",
        flush=True,
    )


async def run(seconds: int, connections: int, servers: str, rounds: int) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_MISSING)
    helper = str(ROOT / "benchmarks" / "_sink.py")
    sink_port = free_port()
    sink_url = f"http://127.0.0.1:{sink_port}"
    loads = [_load()]
    lean = servers == "lean"
    measured: list[Round] = []
    args = [sys.executable, helper, "sink", str(sink_port), *(["lean"] if lean else [])]
    with process(args, f"{sink_url}/stats") as sink_session:
        sink = Served(sink_url, sink_session)
        for index in range(1, rounds + 1):
            measured.append(await one_round(helper, sink, seconds, connections, lean))
            loads.append(_load())
            if rounds > 1:
                print_round(index, measured[-1])
        rows = round_rows(measured)

        with broker([trigger(f"t{i}", f"{sink_url}/t{i}") for i in range(10)]) as ingress:
            await warm_up(ingress.url, sink_url, 10)
            fan = await throughput(ingress, sink, 10, seconds, connections)
        rows.append(("(c) fan-out to 10 triggers, events/s in", f"{fan.rate:,.0f}"))
        rows.append(("    deliveries/s out", f"{fan.rate * 10:,.0f}"))
        loads.append(_load())

        rows.append(
            ("(d) 1,000 exact filters, us per event (in-process)", f"{matching_cost_us(1000):.1f}")
        )
        many = [trigger(f"m{i}", f"{sink_url}/m{i}", f"dev.shoal.other{i}") for i in range(999)]
        with broker([*many, trigger("hit", f"{sink_url}/hit")]) as ingress:
            await warm_up(ingress.url, sink_url, 1)
            hit = await throughput(ingress, sink, 1, seconds, connections)
        rows.append(("    1,000 triggers (1 matching), events/s delivered", f"{hit.rate:,.0f}"))
        loads.append(_load())
    failed = sum(r.failed for r in measured)
    rows.append(("requests refused or failed (b, c, d)", f"{failed}, {fan.failed}, {hit.failed}"))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(
        f"\nbare hop and subscriber: {servers} server; "
        f"wrk: {connections} connections, {seconds} s per phase; {os.cpu_count()} CPUs; "
        f"1-minute load average before each phase: {', '.join(loads)}\n"
        f"broker's hot path: {native.status().describe()}"
    )


async def bare_relay(
    helper: str, sink: Served, seconds: int, connections: int, lean: bool
) -> Phase:
    """The bare relay to the subscriber (aiohttp's, or with `lean` the broker's HTTP server and
    client), counted as for the broker."""
    port = free_port()
    relay = f"http://127.0.0.1:{port}/"
    command = [sys.executable, helper, "relay", str(port), *(["lean"] if lean else [])]
    with process([*command, "--to", f"{sink.url}/relay"], f"{relay}health") as session:
        await warm_up(relay, sink.url, 1)
        return await throughput(Served(relay, session), sink, 1, seconds, connections)


async def warm_up(ingress: str, sink: str, triggers: int) -> None:
    """A few events through the whole path (connections, caches), then a clean count."""
    await blast(ingress, 500)
    await wait_count(sink, 500 * triggers)
    await reset_sink(sink)


@dataclass(frozen=True, slots=True)
class Phase:
    rate: float  # events/s delivered
    failed: int
    cpu: Cpu  # per event accepted


async def throughput(
    ingress: Served, sink: Served, triggers: int, seconds: int, connections: int
) -> Phase:
    """Events/s delivered: from the first post until the sink has every accepted event."""
    server_before, sink_before = session_cpu(ingress.session), session_cpu(sink.session)
    start = time.perf_counter()
    result = await wrk(ingress.url, seconds, connections)
    delivered_at = await wait_count(sink.url, result.accepted * triggers, DRAIN_TIMEOUT)
    cpu = Cpu(
        per_event_us(session_cpu(ingress.session) - server_before, result.accepted),
        per_event_us(session_cpu(sink.session) - sink_before, result.accepted),
        per_event_us(result.cpu, result.accepted),
    )
    await reset_sink(sink.url)
    return Phase(result.accepted / (delivered_at - start), result.failed, cpu)


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


async def sink_latencies(sink: str) -> tuple[list[float], list[float]]:
    """Seconds from the load generator's send, and from the broker's ingress, to the sink."""
    stats = await sink_stats(sink)
    return stats["latencies"], stats["ingress_latencies"]


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
    parser.add_argument("--seconds", type=int, default=10, help="wrk's duration per phase")
    parser.add_argument("--connections", type=int, default=CONCURRENCY)
    parser.add_argument(
        "--servers",
        choices=("aiohttp", "lean"),
        default="aiohttp",
        help="what serves the bare hop and the subscriber: aiohttp's web server (the issue's "
        "reference for one hop) or the broker's own asyncio + httptools server",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat (a), the bare relay and (b) this many times and print each figure's median "
        "(ratios taken within each round): single runs on a shared machine swing widely",
    )
    parser.add_argument(
        "--log-writer",
        choices=("process", "thread"),
        default="process",
        help="the broker's --log-writer (its default is process)",
    )
    parser.add_argument(
        "--delivery",
        choices=("process", "inline"),
        default="process",
        help="the broker's --delivery (its default is process)",
    )
    args = parser.parse_args()
    BROKER_OPTIONS.extend(["--log-writer", args.log_writer, "--delivery", args.delivery])
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    uvloop.run(run(args.seconds, args.connections, args.servers, args.rounds))


if __name__ == "__main__":
    main()
