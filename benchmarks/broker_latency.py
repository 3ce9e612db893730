"""Latency at 1,000 events/s right after bursts: does a full-speed phase leave a slow tail?

    .venv/bin/python benchmarks/broker_latency.py [--rounds 4] [--seconds 10] [--no-burst]
        [--delivery process|inline]

One broker with one Trigger, as in `benchmarks/broker.py` (b), to the lean subscriber
(`_sink.py sink PORT lean`, what `broker.py --servers lean` uses). Each
round drives a wrk burst for `--seconds` (unless `--no-burst`), waits until every accepted event
was delivered, then paces 1,000 events/s for 5 s and prints the ingress-to-subscriber p99 and
maximum, overall (with the p50) and for each second of the paced phase. The log grows by each
burst (the default retention is a day), so later rounds run on a bigger file with a longer WAL
history. `--delivery` is the broker's option of that name.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import broker as bench  # noqa: E402
from benchmarks._load import paced  # noqa: E402
from shoal.platform.ports import free_port  # noqa: E402

PACED_SECONDS = 5.0
RATE = 1000.0


async def run(rounds: int, seconds: int, burst: bool) -> None:
    port = free_port()
    sink = f"http://127.0.0.1:{port}"
    helper = [sys.executable, str(ROOT / "benchmarks" / "_sink.py"), "sink", str(port), "lean"]
    with (
        bench.process(helper, f"{sink}/stats") as sink_session,
        bench.broker([bench.trigger("one", f"{sink}/one")]) as broker,
    ):
        ingress = broker.url
        await bench.warm_up(ingress, sink, 1)
        for number in range(1, rounds + 1):
            rate = 0.0
            if burst:
                served_sink = bench.Served(sink, sink_session)
                rate = (await bench.throughput(broker, served_sink, 1, seconds, 64)).rate
            await paced(ingress, RATE, PACED_SECONDS)
            await bench.wait_count(sink, int(RATE * PACED_SECONDS))
            latencies, stamped = await bench.sink_latencies(sink)
            await bench.reset_sink(sink)
            per_second = [
                latencies[start : start + int(RATE)]
                for start in range(0, len(latencies), int(RATE))
            ]
            seconds_text = "  ".join(
                f"{bench.percentile(chunk, 0.99) * 1e3:.1f}/{max(chunk) * 1e3:.0f}"
                for chunk in per_second
            )
            p50 = bench.percentile(latencies, 0.5) * 1e3
            p99, worst = bench.percentile(latencies, 0.99) * 1e3, max(latencies) * 1e3
            from_ingress = bench.percentile(stamped, 0.99) * 1e3
            print(
                f"round {number}: burst {rate:,.0f} events/s delivered; at {RATE:,.0f}/s p50 "
                f"{p50:.2f} ms, p99 "
                f"{p99:.2f} ms (from the ingress: {from_ingress:.2f}), max {worst:.1f} ms; "
                f"each second p99/max (ms): {seconds_text}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10, help="wrk's burst per round")
    parser.add_argument("--no-burst", action="store_true", help="paced phases only")
    parser.add_argument(
        "--delivery",
        choices=("process", "inline"),
        default="process",
        help="the broker's --delivery (its default is process)",
    )
    args = parser.parse_args()
    bench.BROKER_OPTIONS.extend(["--delivery", args.delivery])
    asyncio.run(run(args.rounds, args.seconds, not args.no_burst))


if __name__ == "__main__":
    main()
