"""CPU per `node.heartbeat` in the nodes function, in-process: what 1,000 nodes cost.

    .venv/bin/python benchmarks/heartbeat_cost.py [--nodes 200] [--beats 2000] [--replicas 10]

The nodes function runs through the runtime's `Invoker` (parse, one SQLite transaction with
the inbox record, the handler, the outbox) on a temporary SQLite store, as functions-framework
would call it but without HTTP (Flask and the broker's delivery add to every invocation). Each
node joins, then heartbeats go round the nodes, each listing `--replicas` replicas with their
usage. Printed: CPU (user + system, getrusage) per heartbeat, of the whole invocation and of the
handler alone, and what that means for 1,000 nodes at 1 s and 10 s intervals. Bounded by
`--beats`; no timing loops.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from functions.nodes import nodes  # noqa: E402
from shoal import events  # noqa: E402
from shoal.runtime import Context, Emit, Event  # noqa: E402
from shoal.runtime.invoke import Invoker  # noqa: E402
from shoal.runtime.wire import binary_message  # noqa: E402
from shoal.state import open_store  # noqa: E402


class NoSink:
    def publish(self, emitted: Sequence[object]) -> None:
        del emitted


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def heartbeat(node: str, replicas: int, beat: int) -> dict[str, object]:
    listed: list[events.ReplicaUsage] = [
        {
            "deployment": "web",
            "replica": f"web-{node}-{n}",
            "cpu_millis": 5,
            "memory_mib": 10,
            "cpu_utilization": 50,
            "started_at": "2026-11-28T20:00:00.000Z",
        }
        for n in range(replicas)
    ]
    data: events.NodeHeartbeat = {
        "nodes": [
            {
                "node": node,
                "capacity": {"cpu_millis": 4000, "memory_mib": 8192},
                "allocated": {"cpu_millis": 10 * replicas, "memory_mib": 16 * replicas},
                "usage": {"cpu_millis": 5 * replicas, "memory_mib": 10 * replicas},
                "replicas": listed,
            }
        ]
    }
    return {
        "specversion": "1.0",
        "id": f"hb-{node}-{beat}",
        "source": f"/shoal/agents/{node}",
        "type": events.NODE_HEARTBEAT,
        "subject": node,
        "datacontenttype": "application/json",
        "knativearrivaltime": datetime.now(UTC).isoformat(),
        "data": data,
    }


def joined(node: str) -> dict[str, object]:
    data: events.NodeJoined = {
        "node": node,
        "capacity": {"cpu_millis": 4000, "memory_mib": 8192},
        "labels": {"pool": "bulk"},
        "replicas": [],
    }
    return {
        "specversion": "1.0",
        "id": f"join-{node}",
        "source": f"/shoal/agents/{node}",
        "type": events.NODE_JOINED,
        "datacontenttype": "application/json",
        "data": data,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--beats", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=10, help="per heartbeat")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shoal-heartbeats-") as folder:
        store = open_store(f"sqlite:///{folder}/state.db")
        handler_cpu = 0.0

        def timed(event: Event, ctx: Context) -> Sequence[Emit]:
            nonlocal handler_cpu
            began = cpu_seconds()
            try:
                return nodes.shoal.handler(event, ctx)
            finally:
                handler_cpu += cpu_seconds() - began

        invoker = Invoker(replace(nodes.shoal, handler=timed), store, NoSink())
        names = [f"n{index}" for index in range(args.nodes)]
        for name in names:
            headers, body = binary_message(joined(name))
            assert invoker.handle(headers, body).status == 204
        messages = [
            binary_message(heartbeat(names[beat % len(names)], args.replicas, beat))
            for beat in range(args.beats)
        ]
        handler_cpu = 0.0
        began = cpu_seconds()
        for headers, body in messages:
            assert invoker.handle(headers, body).status == 204
        spent = cpu_seconds() - began
        store.close()
    per_beat = spent / args.beats
    print(
        f"{args.beats} heartbeats of {args.nodes} nodes ({args.replicas} replicas each), "
        f"in-process, SQLite; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"CPU per heartbeat invocation (no HTTP): {per_beat * 1000:.2f} ms")
    print(f"  of which the handler:                 {handler_cpu / args.beats * 1000:.2f} ms")
    for interval in (1.0, 10.0):
        print(f"1,000 nodes every {interval:g} s: {1000 / interval * per_beat:.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
