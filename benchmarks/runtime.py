"""Function runtime overhead: a trivial Shoal function against bare functions-framework.

    .venv/bin/python benchmarks/runtime.py [--requests 20000] [--seconds 20] [--rounds 3]
                                           [--sink lean|aiohttp]

Three servers, each a `functions-framework` process in the same server mode (gunicorn, gthread
worker; `--workers` / `--threads`, passed as WORKERS / THREADS as functions-framework reads them):
(a) bare: an HTTP function that returns "" (200) and does nothing else;
(b) Shoal on SQLite: parse the CloudEvent, one transaction (inbox check, one resource read,
    inbox + outbox write, commit), publish the one emitted event to K_SINK (a minimal sink in
    its own process: by default on the local broker's own HTTP server, `--sink aiohttp` for
    aiohttp's), answer 204;
(c) the same on PostgreSQL (127.0.0.1:5432, database `test`, a fresh schema).
One load generator drives all three: an aiohttp client posting binary-mode CloudEvents with
`--concurrency` requests in flight, bounded by `--requests` and `--seconds`. Rounds alternate
the servers; the table gives each one's median rate and its ratio to bare, and the CPU time
per invocation of the function server's processes (gunicorn master and worker, from
/proc/<pid>/stat), of the sink and of the load generator, so that the cost of the runtime is
seen apart from the load of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._servers import (  # noqa: E402
    Server,
    function_server,
    postgres_schema,
    sink_server,
)

BARE_SOURCE = """
def bare(request):
    return ""
"""

BARE_CLOUDEVENT_SOURCE = """
import functions_framework


@functions_framework.cloud_event
def bare_cloudevent(event):
    pass
"""

SHOAL_SOURCE = """
from shoal.runtime import Context, Emit, Event, Subscription, function


@function(subscriptions=[Subscription(attributes={"type": "dev.shoal.bench"})])
def trivial(event: Event, ctx: Context) -> list[Emit]:
    ctx.state.get("BenchNode", "n1")
    return [Emit("dev.shoal.bench.done", subject=event.subject, data={"ok": True})]
"""

BODY = b'{"replica": "web-1", "node": "n1"}'
WARM_UP_REQUESTS = 500  # per server and round, before the measured load


@dataclass(frozen=True)
class Load:
    """What the load generator posts to a server in each round, after the warm-up."""

    requests: int  # at most
    seconds: float  # at most
    concurrency: int  # requests in flight


@dataclass(frozen=True)
class Run:
    ok: int
    failed: int
    seconds: float
    server_cpu: float = 0.0  # seconds, the function server's processes
    sink_cpu: float = 0.0
    client_cpu: float = 0.0  # the load generator (this process)

    @property
    def total_cpu(self) -> float:
        return self.server_cpu + self.sink_cpu + self.client_cpu

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def per_invocation_ms(self, cpu: float) -> float:
        return cpu / max(1, self.ok + self.failed) * 1e3


async def drive(url: str, requests: int, seconds: float, concurrency: int) -> Run:
    """Post up to `requests` events within `seconds`, `concurrency` at a time."""
    indexes = iter(range(requests))
    counts = {"ok": 0, "failed": 0}

    async def worker(session: aiohttp.ClientSession, deadline: float) -> None:
        for _index in indexes:
            if time.monotonic() > deadline:
                return
            headers = {
                "ce-specversion": "1.0",
                "ce-id": str(uuid.uuid4()),
                "ce-source": "/bench",
                "ce-type": "dev.shoal.bench",
                "ce-subject": "web-1",
                "content-type": "application/json",
            }
            async with session.post(url, data=BODY, headers=headers) as response:
                await response.read()
                counts["ok" if response.status < 300 else "failed"] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(worker(session, deadline) for _ in range(concurrency)))
        return Run(counts["ok"], counts["failed"], time.perf_counter() - start)


def measure(server: Server, sink: Server, load: Load) -> Run:
    warm_up = min(WARM_UP_REQUESTS, load.requests)
    asyncio.run(drive(server.url, warm_up, 5.0, load.concurrency))
    server_cpu, sink_cpu, client_cpu = server.cpu(), sink.cpu(), own_cpu()
    run = asyncio.run(drive(server.url, load.requests, load.seconds, load.concurrency))
    return replace(
        run,
        server_cpu=server.cpu() - server_cpu,
        sink_cpu=sink.cpu() - sink_cpu,
        client_cpu=own_cpu() - client_cpu,
    )


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="per server and round")
    parser.add_argument("--seconds", type=float, default=20.0, help="per server and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sink", choices=("lean", "aiohttp"), default="lean")
    args = parser.parse_args()
    load = Load(args.requests, args.seconds, args.concurrency)
    mode = {"WORKERS": str(args.workers), "THREADS": str(args.threads)}
    with (
        tempfile.TemporaryDirectory() as tmp,
        sink_server(args.sink) as sink,
        postgres_schema() as pg,
    ):
        folder = Path(tmp)
        (folder / "bare.py").write_text(BARE_SOURCE)
        (folder / "trivial.py").write_text(SHOAL_SOURCE)
        (folder / "bare_cloudevent.py").write_text(BARE_CLOUDEVENT_SOURCE)
        servers = {
            "bare": (folder / "bare.py", "bare", mode),
            "bare cloudevent": (
                folder / "bare_cloudevent.py",
                "bare_cloudevent",
                {**mode, "FUNCTION_SIGNATURE_TYPE": "cloudevent"},
            ),
            "floor sqlite": (
                ROOT / "benchmarks" / "floor_function.py",
                "floor",
                {**mode, "K_SINK": sink.url, "FLOOR_DB": str(folder / "floor.db")},
            ),
            "shoal sqlite": (
                folder / "trivial.py",
                "trivial",
                {
                    **mode,
                    "K_SINK": sink.url,
                    "SHOAL_STATE_URL": f"sqlite:///{folder / 'state.db'}",
                },
            ),
            "shoal postgresql": (
                folder / "trivial.py",
                "trivial",
                {**mode, "K_SINK": sink.url, "SHOAL_STATE_URL": pg},
            ),
        }
        runs: dict[str, list[Run]] = {name: [] for name in servers}
        for round_number in range(1, args.rounds + 1):
            for name, (source, target, env) in servers.items():
                with function_server(source, target, env) as server:
                    run = measure(server, sink, load)
                runs[name].append(run)
                print(
                    f"round {round_number} {name}: {run.rate:,.0f}/s "
                    f"({run.ok} ok, {run.failed} failed, {run.seconds:.1f} s; CPU per "
                    f"invocation: server {run.per_invocation_ms(run.server_cpu):.3f} ms, "
                    f"sink {run.per_invocation_ms(run.sink_cpu):.3f} ms, "
                    f"load generator {run.per_invocation_ms(run.client_cpu):.3f} ms; "
                    f"load average {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    bare = statistics.median(run.rate for run in runs["bare"])
    floor = statistics.median(run.rate for run in runs["floor sqlite"])
    print(
        f"\nserver mode: gunicorn gthread, {args.workers} worker(s) x {args.threads} threads; "
        f"load: {args.concurrency} in flight; sink: {args.sink}; median of {args.rounds} "
        f"round(s); load average now {os.getloadavg()[0]:.2f}\n"
    )
    print(
        f"| {'function':<18} | {'invocations/s':>13} | {'vs bare':>7} | vs floor | failed "
        "| server CPU/inv. | sink CPU/inv. | all CPU/inv. | bare/this CPU |"
    )
    print(
        f"|{'-' * 20}|{'-' * 15}|{'-' * 9}|----------|--------|-----------------|---------------"
        "|--------------|---------------|"
    )
    bare_cpu = statistics.median(run.per_invocation_ms(run.total_cpu) for run in runs["bare"])
    for name, measured in runs.items():
        rate = statistics.median(run.rate for run in measured)
        failed = sum(run.failed for run in measured)
        server_ms = statistics.median(run.per_invocation_ms(run.server_cpu) for run in measured)
        sink_ms = statistics.median(run.per_invocation_ms(run.sink_cpu) for run in measured)
        total = statistics.median(run.per_invocation_ms(run.total_cpu) for run in measured)
        sink_text = "-" if name.startswith("bare") else f"{sink_ms:.3f} ms"
        print(
            f"| {name:<18} | {rate:>13,.0f} | {rate / bare:>7.2f} | {rate / floor:>8.2f} "
            f"| {failed:>6} "
            f"| {server_ms:>12.3f} ms | {sink_text:>13} | {total:>9.3f} ms "
            f"| {bare_cpu / total:>13.2f} |"
        )
    print(
        "\nall CPU/inv.: load generator + function server + sink; bare/this CPU: the rate ratio "
        "the CPU alone would allow on a machine doing nothing else"
    )


if __name__ == "__main__":
    main()
