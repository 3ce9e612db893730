"""The floor taken apart: what each part of a durable invocation costs when served.

    .venv/bin/python benchmarks/runtime_parts.py [--seconds 10] [--rounds 2] [--threads 8]
                                                 [--asgi]

`benchmarks/runtime.py` sets Shoal against the floor (`floor_function.py`: the trivial
function's durable work written by hand). This script serves the floor with parts switched off,
in the same server mode and with the same load generator as `runtime.py`, so the gap between
bare functions-framework and the floor can be split between the SQLite transaction and the
publish:

- bare: functions-framework, an HTTP function that does nothing;
- floor: the transaction on a database file, then the publish to K_SINK;
- floor, no publish: the transaction only;
- floor, no store: the publish only;
- floor, no publish, in memory: the same statements on an in-memory database (no file I/O);
- floor, no publish, dicts: the same steps on Python dicts under the same lock (no sqlite3
  call at all; nothing durable, so no real store can do this either).

`--asgi` serves all of them in functions-framework's other server mode instead (`--asgi`:
gunicorn with one uvicorn worker, `async` functions on its event loop): bare is an `async`
function that returns "", the floor is `floor_asgi` (the same work, its publish awaited).

Rounds alternate the servers; the table gives each one's median rate, its ratio to bare, and the
function server's CPU time and voluntary context switches per invocation (from /proc).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._servers import (  # noqa: E402
    function_server,
    session_context_switches,
    sink_server,
)
from benchmarks.runtime import BARE_SOURCE, WARM_UP_REQUESTS, Load, measure  # noqa: E402

BARE_ASGI_SOURCE = """
import functions_framework.aio


@functions_framework.aio.http
async def bare(request):
    return ""
"""

FLOOR = ROOT / "benchmarks" / "floor_function.py"
PARTS: dict[str, dict[str, str]] = {
    "floor": {},
    "floor, no publish": {"FLOOR_PUBLISH": "0"},
    "floor, no store": {"FLOOR_STORE": "0"},
    "floor, no publish, in memory": {"FLOOR_PUBLISH": "0", "FLOOR_DB": ":memory:"},
    "floor, no publish, dicts": {"FLOOR_PUBLISH": "0", "FLOOR_STORE": "dict"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40000, help="per server and round")
    parser.add_argument("--seconds", type=float, default=10.0, help="per server and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--asgi", action="store_true", help="functions-framework --asgi")
    args = parser.parse_args()
    load = Load(args.requests, args.seconds, args.concurrency)
    if args.asgi:
        mode = {"WORKERS": "1", "FUNCTION_USE_ASGI": "1"}
        mode_name, floor_target = "gunicorn, 1 uvicorn worker (ASGI)", "floor_asgi"
    else:
        mode = {"WORKERS": "1", "THREADS": str(args.threads)}
        mode_name, floor_target = f"gunicorn gthread, 1 worker x {args.threads} threads", "floor"
    rows: dict[str, list[tuple[float, float, float]]] = {"bare": []}
    rows.update({name: [] for name in PARTS})
    with tempfile.TemporaryDirectory() as tmp, sink_server("lean") as sink:
        folder = Path(tmp)
        (folder / "bare.py").write_text(BARE_ASGI_SOURCE if args.asgi else BARE_SOURCE)
        for round_number in range(1, args.rounds + 1):
            for name, measured in rows.items():
                bare = name == "bare"
                source, target = (folder / "bare.py", "bare") if bare else (FLOOR, floor_target)
                database = str(folder / f"floor-{round_number}-{len(measured)}.db")
                env = {**mode, "K_SINK": sink.url, "FLOOR_DB": database, **PARTS.get(name, {})}
                with function_server(source, target, env) as server:
                    before = session_context_switches(server.session)
                    run = measure(server, sink, load)
                    switched = session_context_switches(server.session) - before
                # The count spans `measure`'s warm-up too: divide by every request it made.
                requests = run.ok + run.failed + min(WARM_UP_REQUESTS, load.requests)
                switches = switched / requests
                cpu = run.per_invocation_ms(run.server_cpu)
                measured.append((run.rate, cpu, switches))
                print(
                    f"round {round_number} {name}: {run.rate:,.0f}/s, server CPU {cpu:.3f} ms and"
                    f" {switches:.1f} context switches per invocation",
                    flush=True,
                )
    bare_rate = statistics.median(rate for rate, _cpu, _switches in rows["bare"])
    print(
        f"\nserver mode: {mode_name}; load: "
        f"{args.concurrency} in flight; median of {args.rounds} round(s); load average now "
        f"{os.getloadavg()[0]:.2f}\n"
    )
    print(f"| {'server':<28} | invocations/s | vs bare | server CPU/inv. | switches/inv. |")
    print(f"|{'-' * 30}|---------------|---------|-----------------|---------------|")
    for name, measured in rows.items():
        rate = statistics.median(row[0] for row in measured)
        cpu = statistics.median(row[1] for row in measured)
        switches = statistics.median(row[2] for row in measured)
        print(
            f"| {name:<28} | {rate:>13,.0f} | {rate / bare_rate:>7.2f} | {cpu:>12.3f} ms "
            f"| {switches:>13.1f} |"
        )


if __name__ == "__main__":
    main()
