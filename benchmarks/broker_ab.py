"""The ratio broker / bare hop for two broker configurations, alternated round by round.

    .venv/bin/python benchmarks/broker_ab.py [--rounds 5] [--seconds 10]
        [--a "--delivery process"] [--b "--delivery inline"]

On a shared machine a single `broker.py` run swings by a fifth from one quarter hour to the
next, so two configurations measured in two runs cannot be told apart. Here each round
measures (a) of `broker.py` (the bare hop: wrk against the aiohttp server answering 202) and
then (b) (ingress -> log -> one Trigger -> the aiohttp subscriber) once with each set of
`shoal broker` options, in turns (which goes first alternates); each ratio is taken against
the hop of its own round. It prints every round and the medians, with the CPU per event of
the broker and of the subscriber. Every phase is bounded as in `broker.py`.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import broker as bench  # noqa: E402
from benchmarks._load import wrk  # noqa: E402
from local_broker import native  # noqa: E402
from shoal.platform.ports import free_port  # noqa: E402

CONNECTIONS = 64


async def hop(helper: str, seconds: int) -> float:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with bench.process([sys.executable, helper, "bare", str(port)], f"{url}health"):
        await wrk(url, 2, CONNECTIONS)  # warm up
        return (await wrk(url, seconds, CONNECTIONS)).requests / seconds


async def through_broker(options: list[str], sink: bench.Served, seconds: int) -> bench.Phase:
    bench.BROKER_OPTIONS[:] = options
    with bench.broker([bench.trigger("one", f"{sink.url}/one")]) as ingress:
        await bench.warm_up(ingress.url, sink.url, 1)
        return await bench.throughput(ingress, sink, 1, seconds, CONNECTIONS)


async def run(rounds: int, seconds: int, configurations: dict[str, list[str]]) -> None:
    helper = str(ROOT / "benchmarks" / "_sink.py")
    port = free_port()
    sink_url = f"http://127.0.0.1:{port}"
    ratios: dict[str, list[float]] = {name: [] for name in configurations}
    costs: dict[str, list[tuple[float, float]]] = {name: [] for name in configurations}
    with bench.process([sys.executable, helper, "sink", str(port)], f"{sink_url}/stats") as sink:
        served = bench.Served(sink_url, sink)
        for number in range(1, rounds + 1):
            bare = await hop(helper, seconds)
            order = list(configurations)
            if number % 2 == 0:
                order.reverse()
            parts = [f"round {number}: hop {bare:,.0f}/s"]
            for name in order:
                phase = await through_broker(configurations[name], served, seconds)
                ratios[name].append(phase.rate / bare)
                costs[name].append((phase.cpu.server, phase.cpu.subscriber))
                parts.append(
                    f"{name} {phase.rate:,.0f}/s ({phase.rate / bare:.2f}; broker "
                    f"{phase.cpu.server:.0f} us, subscriber {phase.cpu.subscriber:.0f} us)"
                )
            print(", ".join(parts), flush=True)
    for name, options in configurations.items():
        broker_us = statistics.median(cost[0] for cost in costs[name])
        sink_us = statistics.median(cost[1] for cost in costs[name])
        print(
            f"{name} ({shlex.join(options) or 'defaults'}): median ratio "
            f"{statistics.median(ratios[name]):.2f} (rounds "
            f"{' / '.join(f'{r:.2f}' for r in ratios[name])}); CPU us per event: broker "
            f"{broker_us:.0f}, subscriber {sink_us:.0f}"
        )
    print(f"broker's hot path: {native.status().describe()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="wrk's duration per phase")
    parser.add_argument("--a", default="--delivery process", help="options of broker A")
    parser.add_argument("--b", default="--delivery inline", help="options of broker B")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    configurations = {"A": shlex.split(args.a), "B": shlex.split(args.b)}
    uvloop.run(run(args.rounds, args.seconds, configurations))


if __name__ == "__main__":
    main()
