from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import pytest

from shoal.orchestration.placement import (
    Node,
    Placement,
    Request,
    Strategy,
    Unschedulable,
    place_many,
)
from shoal.orchestration.scoring import SPREAD_PENALTY, resource_score


@pytest.mark.parametrize(
    ("cpu", "cpu_capacity", "memory", "memory_capacity", "strategy", "score"),
    [
        # The resource-bin-packing docs' node 1 (requested + used = 3 of 8 cpu, 512 of 1024 MiB)
        (3000, 8000, 512, 1024, "binpack", (37 + 50) // 2),  # 37.5 % rounds down
        (3000, 8000, 512, 1024, "spread", (62 + 50) // 2),
        # ...and node 2 (8 of 8 cpu, 768 of 1024 MiB)
        (8000, 8000, 768, 1024, "binpack", (100 + 75) // 2),
        (8000, 8000, 768, 1024, "spread", (0 + 25) // 2),
        (0, 4000, 0, 4096, "spread", 100),
        (0, 4000, 0, 4096, "binpack", 0),
        (4000, 4000, 4096, 4096, "spread", 0),
        (4000, 4000, 4096, 4096, "binpack", 100),
        (1000, 4000, 3072, 4096, "spread", (75 + 25) // 2),
        (1000, 4000, 3072, 4096, "binpack", (25 + 75) // 2),
        (1, 3, 1, 3, "binpack", 33),
        (2, 3, 2, 3, "spread", 33),
        (0, 0, 512, 1024, "binpack", 25),  # no capacity of a resource: it scores 0
        (0, 0, 0, 0, "spread", 0),
    ],
)
def test_resource_score(
    *,
    cpu: int,
    cpu_capacity: int,
    memory: int,
    memory_capacity: int,
    strategy: Strategy,
    score: int,
) -> None:
    assert resource_score(cpu, cpu_capacity, memory, memory_capacity, strategy) == score


def node(name: str = "n1", cpu: int = 4000, memory: int = 4096, **fields: object) -> Node:
    return Node(name, cpu, memory, **fields)  # type: ignore[arg-type]


def request(replica: str = "r1", deployment: str = "web", **fields: object) -> Request:
    return Request(replica, deployment, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("the_node", "the_request", "reasons"),
    [
        (node(), request(), None),
        (node(), request(cpu=4000, memory=4096), None),  # an exact fit fits
        (node(cpu_allocated=3000), request(cpu=1000), None),
        (node(ready=False), request(), ["1 node(s) not ready"]),
        (node(), request(node_selector={"zone": "a"}), ["1 node(s) didn't match nodeSelector"]),
        (
            node(labels={"zone": "b"}),
            request(node_selector={"zone": "a"}),
            ["1 node(s) didn't match nodeSelector"],
        ),
        (node(labels={"zone": "a", "disk": "ssd"}), request(node_selector={"zone": "a"}), None),
        (
            node(labels={"zone": "a"}),
            request(node_selector={"zone": "a", "disk": "ssd"}),
            ["1 node(s) didn't match nodeSelector"],
        ),
        (
            node(ready=False, labels={}),
            request(node_selector={"zone": "a"}),
            ["1 node(s) not ready"],
        ),
        (node(), request(cpu=4001), ["1 node(s) had insufficient cpu"]),
        (node(cpu_allocated=3500), request(cpu=501), ["1 node(s) had insufficient cpu"]),
        (node(), request(memory=5000), ["1 node(s) had insufficient memory"]),
        (node(memory_allocated=4096), request(memory=1), ["1 node(s) had insufficient memory"]),
        (
            node(),
            request(cpu=5000, memory=5000),
            ["1 node(s) had insufficient cpu", "1 node(s) had insufficient memory"],
        ),
        (
            node(used_ports=frozenset(range(30000, 32768))),
            request(ports=1),
            ["1 node(s) had no free host port"],
        ),
        (node(used_ports=frozenset(range(30000, 32767))), request(ports=1), None),
        (
            node(used_ports=frozenset(range(30000, 32767))),
            request(ports=2),
            ["1 node(s) had no free host port"],
        ),
        (node(used_ports=frozenset(range(30000, 32768))), request(ports=0), None),
        (node(used_ports=frozenset({80, 443})), request(ports=1), None),  # outside the range
    ],
)
def test_filters(the_node: Node, the_request: Request, reasons: list[str] | None) -> None:
    placements, unschedulable = place_many([the_node], [the_request])
    if reasons is None:
        assert [p.node for p in placements] == [the_node.name]
        assert unschedulable == []
    else:
        assert placements == []
        assert unschedulable == [Unschedulable(the_request.replica, 1, tuple(reasons))]


def test_unschedulable_message_counts_nodes_per_reason() -> None:
    nodes = [
        node("a", ready=False),
        node("b", labels={"zone": "b"}, cpu=100),
        node("c", cpu=100),
        node("d", cpu=100, memory=10),
        node("e", labels={"zone": "a"}, cpu=100),
    ]
    _, [failed] = place_many(nodes, [request(cpu=200, memory=100)])
    assert failed.message == (
        "0/5 nodes are available: 4 node(s) had insufficient cpu, "
        "1 node(s) had insufficient memory, 1 node(s) not ready."
    )
    _, [failed] = place_many(nodes, [request(cpu=200, node_selector={"zone": "a"})])
    assert failed.message == (
        "0/5 nodes are available: 3 node(s) didn't match nodeSelector, "
        "1 node(s) had insufficient cpu, 1 node(s) not ready."
    )
    _, [failed] = place_many([], [request()])
    assert failed.message == "0/0 nodes are available: no nodes."


SPREAD_NODES = [
    node("a", cpu_allocated=3000, memory_allocated=3072),
    node("b", cpu_allocated=1000, memory_allocated=1024),
    node("c", cpu_allocated=2000, memory_allocated=2048),
]


@pytest.mark.parametrize(
    ("nodes", "the_request", "strategy", "chosen"),
    [
        (SPREAD_NODES, request(cpu=500, memory=512), "spread", "b"),  # least allocated
        (SPREAD_NODES, request(cpu=500, memory=512), "binpack", "a"),  # most allocated
        (SPREAD_NODES, request(cpu=1500, memory=512), "binpack", "c"),  # the fullest that fits
        ([node("b"), node("a"), node("c")], request(), "spread", "a"),  # ties: first name
        ([node("b"), node("a"), node("c")], request(), "binpack", "a"),
        # ratios, not absolute amounts: 2 of 8 cores free beats 1.5 of 4
        (
            [
                node("big", cpu=8000, cpu_allocated=6000),
                node("small", cpu=4000, cpu_allocated=2500),
            ],
            request(),
            "spread",
            "small",
        ),
        # cpu and memory weigh the same
        (
            [node("cpu-heavy", cpu_allocated=3000), node("mem-heavy", memory_allocated=2048)],
            request(),
            "spread",
            "mem-heavy",
        ),
        # the spread penalty keeps a deployment off a node it already has replicas on...
        ([node("a", deployment_replicas={"web": 1}), node("b")], request(), "spread", "b"),
        ([node("a", deployment_replicas={"web": 1}), node("b")], request(), "binpack", "b"),
        (
            [node("a", deployment_replicas={"other": 3}), node("b", cpu_allocated=1)],
            request(),
            "spread",
            "a",
        ),
        # ...unless the other node is clearly worse: here 15 points emptier beats 10 points
        (
            [
                node("a", deployment_replicas={"web": 1}),
                node("b", cpu_allocated=2400, memory_allocated=2458),
            ],
            request(),
            "spread",
            "a",
        ),
        (
            [
                node(
                    "a", deployment_replicas={"web": 1}, cpu_allocated=2400, memory_allocated=2458
                ),
                node("b"),
            ],
            request(),
            "binpack",
            "a",
        ),
        (
            [
                node(
                    "a", deployment_replicas={"web": 6}, cpu_allocated=2400, memory_allocated=2458
                ),
                node("b"),
            ],
            request(),
            "binpack",
            "a",
        ),  # 60 - 60 ties 0
        (
            [
                node(
                    "a", deployment_replicas={"web": 7}, cpu_allocated=2400, memory_allocated=2458
                ),
                node("b"),
            ],
            request(),
            "binpack",
            "b",
        ),
        ([node("a", ready=False), node("b", cpu_allocated=4000)], request(cpu=1), "spread", None),
    ],
)
def test_choice(
    nodes: list[Node], the_request: Request, strategy: Strategy, chosen: str | None
) -> None:
    placements, _ = place_many(nodes, [the_request], strategy)
    assert [p.node for p in placements] == ([chosen] if chosen else [])


def test_spread_evens_out_a_deployment() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    placements, _ = place_many(nodes, [request(f"r{i}", cpu=100) for i in range(7)])
    assert sorted(Counter(p.node for p in placements).values()) == [2, 2, 3]


def test_binpack_fills_a_node_before_the_next_despite_the_penalty() -> None:
    nodes = [node(f"n{i}", cpu=1000, memory=1000) for i in range(3)]
    requests = [request(f"r{i}", cpu=250, memory=250) for i in range(6)]
    placements, _ = place_many(nodes, requests, "binpack")
    # 25 -> 50-10 -> 75-20 -> 100-30 beats an empty node's 25 each time
    assert [p.node for p in placements] == ["n0"] * 4 + ["n1"] * 2


def test_allocations_carry_over_within_a_call() -> None:
    nodes = [node("a", cpu=1000), node("b", cpu=1000)]
    requests = [request(f"r{i}", cpu=400) for i in range(5)]
    placements, unschedulable = place_many(nodes, requests, "binpack")
    # a scores 20 empty (cpu 40 %, memory 0 %), then 40 - 10 for a second web replica > 20
    assert [p.node for p in placements] == ["a", "a", "b", "b"]
    assert unschedulable == [Unschedulable("r4", 2, ("2 node(s) had insufficient cpu",))]


def test_host_ports_are_the_lowest_free_ones() -> None:
    nodes = [node("a", used_ports=frozenset({10, 12}))]
    requests = [request("r1", ports=2), request("r2", ports=1), request("r3", ports=1)]
    placements, unschedulable = place_many(nodes, requests, port_range=range(10, 15))
    assert placements == [Placement("r1", "a", (11, 13)), Placement("r2", "a", (14,))]
    assert [u.replica for u in unschedulable] == ["r3"]


def test_deployments_are_placed_together_in_order_of_first_appearance() -> None:
    requests = [request("a1", "a"), request("b1", "b"), request("a2", "a"), request("c1", "c")]
    placements, _ = place_many([node()], requests)
    assert [p.replica for p in placements] == ["a1", "a2", "b1", "c1"]


def test_node_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        place_many([node("a"), node("a")], [])


def place_one_at_a_time(
    nodes: Sequence[Node], requests: Sequence[Request], strategy: Strategy, port_range: range
) -> tuple[list[Placement], list[str]]:
    """The definition place_many must match: score every node for every replica."""
    cpu = {n.name: n.cpu_allocated for n in nodes}
    memory = {n.name: n.memory_allocated for n in nodes}
    ports = {n.name: set(n.used_ports) for n in nodes}
    replicas = {n.name: Counter(n.deployment_replicas) for n in nodes}
    order: dict[str, list[Request]] = {}
    for r in requests:
        order.setdefault(r.deployment, []).append(r)
    placements: list[Placement] = []
    unschedulable: list[str] = []
    for r in (r for group in order.values() for r in group):
        best: tuple[int, str] | None = None
        for n in nodes:
            free = [p for p in port_range if p not in ports[n.name]]
            if (
                n.ready
                and all(n.labels.get(k) == v for k, v in r.node_selector.items())
                and cpu[n.name] + r.cpu <= n.cpu_capacity
                and memory[n.name] + r.memory <= n.memory_capacity
                and len(free) >= r.ports
            ):
                score = (
                    resource_score(
                        cpu[n.name] + r.cpu,
                        n.cpu_capacity,
                        memory[n.name] + r.memory,
                        n.memory_capacity,
                        strategy,
                    )
                    - SPREAD_PENALTY * replicas[n.name][r.deployment]
                )
                if best is None or (-score, n.name) < (-best[0], best[1]):
                    best = (score, n.name)
        if best is None:
            unschedulable.append(r.replica)
            continue
        name = best[1]
        cpu[name] += r.cpu
        memory[name] += r.memory
        replicas[name][r.deployment] += 1
        taken = tuple(sorted(p for p in port_range if p not in ports[name])[: r.ports])
        ports[name].update(taken)
        placements.append(Placement(r.replica, name, taken))
    return placements, unschedulable


def random_cluster(seed: int) -> tuple[list[Node], list[Request]]:
    rng = random.Random(seed)
    nodes = [
        Node(
            f"node-{i:02d}",
            cpu_capacity=rng.choice([0, 1000, 2000, 4000, 8000]),
            memory_capacity=rng.choice([512, 1024, 4096]),
            cpu_allocated=rng.choice([0, 0, 250, 500]),
            memory_allocated=rng.choice([0, 0, 128]),
            ready=rng.random() > 0.1,
            labels={"zone": rng.choice("ab")},
            used_ports=frozenset(rng.sample(range(100, 108), rng.randint(0, 8))),
            deployment_replicas={f"dep-{rng.randint(0, 5)}": rng.randint(0, 2)},
        )
        for i in range(rng.randint(1, 40))
    ]
    rng.shuffle(nodes)
    requests: list[Request] = []
    for d in range(rng.randint(1, 12)):
        like = Request(
            "",
            f"dep-{d}",
            cpu=rng.choice([0, 100, 250, 500]),
            memory=rng.choice([0, 64, 128, 256]),
            ports=rng.choice([0, 0, 1, 2]),
            node_selector=rng.choice([{}, {}, {"zone": "a"}]),
        )
        count = rng.choice([1, 2, 3, 10, 30])  # above and below sqrt(nodes)
        requests += [replace(like, replica=f"dep-{d}-{i}") for i in range(count)]
    rng.shuffle(requests)
    return nodes, requests


@pytest.mark.parametrize("strategy", ["spread", "binpack"])
@pytest.mark.parametrize("seed", range(150))
def test_place_many_equals_placing_one_at_a_time(seed: int, strategy: Strategy) -> None:
    nodes, requests = random_cluster(seed)
    placements, unschedulable = place_many(nodes, requests, strategy, port_range=range(100, 108))
    expected, expected_unschedulable = place_one_at_a_time(
        nodes, requests, strategy, range(100, 108)
    )
    assert placements == expected
    assert [u.replica for u in unschedulable] == expected_unschedulable
    reordered = sorted(nodes, key=lambda n: n.name, reverse=True)
    assert place_many(reordered, requests, strategy, port_range=range(100, 108)) == (
        placements,
        unschedulable,
    )


def test_ten_thousand_replicas_on_a_thousand_nodes() -> None:
    nodes = [node(f"node-{i:04d}", cpu=16000, memory=32768) for i in range(1000)]
    requests = [
        request(f"dep-{d}-{i}", f"dep-{d}", cpu=250, memory=256, ports=1)
        for d in range(100)
        for i in range(100)
    ]
    placements, unschedulable = place_many(nodes, requests)
    assert unschedulable == []
    per_node = Counter(p.node for p in placements)
    assert set(per_node.values()) == {10}  # spread evenly over identical nodes
    per_deployment_node = Counter((p.replica.rsplit("-", 1)[0], p.node) for p in placements)
    assert max(per_deployment_node.values()) == 1  # 100 replicas on 100 distinct nodes
    assert math.isclose(len(placements), 10_000)
