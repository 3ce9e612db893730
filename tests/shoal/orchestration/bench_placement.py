"""How long `place_many` takes for 10,000 replicas on 1,000 nodes; prints figures, asserts nothing.

Run: .venv/bin/python -m tests.shoal.orchestration.bench_placement
Not a test (pytest does not collect it): timings depend on the machine and its load.
"""

from __future__ import annotations

import random
import time

from shoal.orchestration.placement import Node, Request, Strategy, place_many

NODES = 1000
REPLICAS = 10_000


def cluster(rng: random.Random) -> list[Node]:
    return [
        Node(
            f"node-{i:04d}",
            cpu_capacity=rng.choice([16_000, 32_000, 64_000]),
            memory_capacity=rng.choice([32_768, 65_536, 131_072]),
            labels={"zone": "abc"[i % 3]},
        )
        for i in range(NODES)
    ]


def requests(rng: random.Random, deployments: int) -> list[Request]:
    """REPLICAS replicas in `deployments` deployments of random shapes, one in ten with a
    nodeSelector, each wanting a host port."""
    batch: list[Request] = []
    for d in range(deployments):
        cpu, memory = rng.choice([100, 250, 500, 1000]), rng.choice([64, 128, 256, 512])
        selector = {"zone": "a"} if d % 10 == 9 else {}
        batch += [
            Request(f"dep{d}-{i}", f"dep{d}", cpu, memory, ports=1, node_selector=selector)
            for i in range(REPLICAS // deployments)
        ]
    return batch


def main() -> None:
    nodes = cluster(random.Random(1))
    strategies: tuple[Strategy, ...] = ("spread", "binpack")
    for strategy in strategies:
        for deployments in (1, 10, 100, 1000, 10_000):
            batch = requests(random.Random(2), deployments)
            wall, cpu = time.perf_counter(), time.process_time()
            placements, unschedulable = place_many(nodes, batch, strategy)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"{strategy:7} {deployments:>6} deployment(s): {len(placements):>6} placed, "
                f"{len(unschedulable):>5} unschedulable in {wall:.2f} s ({cpu:.2f} s CPU)"
            )


if __name__ == "__main__":
    main()
