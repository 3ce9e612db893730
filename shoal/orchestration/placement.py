"""Placing many replicas per call, exactly as placing them one at a time would.

Each replica goes to the highest-scoring node that passes the filters (see `scoring`), and
each placement adds to its node's allocations before the next replica is scored.

Rescanning every node per replica would cost replicas x nodes scores (10^7 for 10,000 replicas
on 1,000 nodes). Instead each group of like requests keeps a lazy max-heap of its candidate
nodes (`_Candidates`), and a placement changes one node, so a replica costs a few heap
operations. The static filters (ready, labels) are applied once per nodeSelector.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from shoal.orchestration.scoring import (
    DEFAULT_PORT_RANGE,
    SPREAD_PENALTY,
    Node,
    Request,
    Strategy,
    resource_score,
)

__all__ = ["Node", "Placement", "Request", "Strategy", "Unschedulable", "place_many"]


@dataclass(frozen=True)
class Placement:
    replica: str
    node: str
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Unschedulable:
    """A replica no node can take now; `reasons` count the nodes failing each filter."""

    replica: str
    nodes: int
    reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        return f"0/{self.nodes} nodes are available: {', '.join(self.reasons) or 'no nodes'}."


def place_many(
    nodes: Sequence[Node],
    requests: Sequence[Request],
    strategy: Strategy = "spread",
    *,
    port_range: range = DEFAULT_PORT_RANGE,
) -> tuple[list[Placement], list[Unschedulable]]:
    """Place `requests` one at a time, each seeing the allocations of those placed before it.

    Replicas are placed one deployment at a time, deployments in the order they first appear
    (each deployment's requests in the order given); placements come back in that order.
    """
    cluster = _Cluster(nodes, requests, strategy, port_range)
    placements: list[Placement] = []
    unschedulable: list[Unschedulable] = []
    by_deployment: dict[str, list[Request]] = {}
    for request in requests:
        by_deployment.setdefault(request.deployment, []).append(request)
    for request in (request for group in by_deployment.values() for request in group):
        node = cluster.candidates(request).best(request.deployment)
        if node is None:
            reasons = cluster.reasons(request)
            unschedulable.append(Unschedulable(request.replica, len(nodes), reasons))
        else:
            placements.append(Placement(request.replica, node.name, cluster.assign(node, request)))
    return placements, unschedulable


_Shape = tuple[int, int, int, frozenset[tuple[str, str]]]  # cpu, memory, ports, nodeSelector


class _NodeState:
    """A node's allocations as they grow during one call; `version` counts its changes."""

    __slots__ = ("cpu", "free_ports", "memory", "name", "next_port", "node", "replicas", "version")

    def __init__(self, node: Node, port_range: range) -> None:
        self.node = node
        self.name = node.name
        self.cpu = node.cpu_allocated
        self.memory = node.memory_allocated
        self.replicas = Counter(node.deployment_replicas)
        self.free_ports = len(port_range) - sum(1 for port in node.used_ports if port in port_range)
        self.next_port = port_range.start
        self.version = 0

    def take_ports(self, count: int) -> tuple[int, ...]:
        """The lowest free ports; the lowest free port only ever rises, so a cursor suffices."""
        ports: list[int] = []
        while len(ports) < count:
            if self.next_port not in self.node.used_ports:
                ports.append(self.next_port)
            self.next_port += 1
        self.free_ports -= count
        return tuple(ports)

    def fits(self, shape: _Shape) -> bool:
        cpu, memory, ports, _ = shape
        node = self.node
        return (
            self.cpu + cpu <= node.cpu_capacity
            and self.memory + memory <= node.memory_capacity
            and ports <= self.free_ports
        )


class _Cluster:
    def __init__(
        self, nodes: Sequence[Node], requests: Sequence[Request], strategy: Strategy, ports: range
    ) -> None:
        self.strategy = strategy
        self.states = {node.name: _NodeState(node, ports) for node in nodes}
        if len(self.states) != len(nodes):
            raise ValueError("node names must be unique")
        self.changes: list[str] = []  # names of nodes, one entry per placement
        self._groups: dict[tuple[_Shape, str | None], _Candidates] = {}
        self._eligible: dict[frozenset[tuple[str, str]], list[_NodeState]] = {}
        self._reasons: dict[_Shape, tuple[int, tuple[str, ...]]] = {}
        holders = Counter(dep for node in nodes for dep, n in node.deployment_replicas.items() if n)
        wanted = Counter((_shape(r), r.deployment) for r in requests)
        # A deployment that will be on more than sqrt(nodes) nodes gets candidates of its own:
        # building them costs one score per node, sharing costs a pop per node it is on.
        limit = math.isqrt(len(nodes))
        self._own = {key for key, count in wanted.items() if count + holders[key[1]] > limit}
        # MostAllocated scores rise as a node fills, so changed nodes must be pushed anew
        # (see `_Candidates`); LeastAllocated scores and the spread penalty only ever fall.
        self.scores_rise = strategy == "binpack"

    def candidates(self, request: Request) -> _Candidates:
        shape = _shape(request)
        key = (shape, request.deployment if (shape, request.deployment) in self._own else None)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Candidates(self, shape, key[1], self.eligible(shape[3]))
        return group

    def eligible(self, selector: frozenset[tuple[str, str]]) -> list[_NodeState]:
        """Nodes that pass the filters that never change during a call: ready, labels."""
        if selector not in self._eligible:
            self._eligible[selector] = [
                state
                for state in self.states.values()
                if state.node.ready and all(state.node.labels.get(k) == v for k, v in selector)
            ]
        return self._eligible[selector]

    def score(self, state: _NodeState, shape: _Shape) -> int:
        node = state.node
        return resource_score(
            state.cpu + shape[0], node.cpu_capacity, state.memory + shape[1],
            node.memory_capacity, self.strategy,
        )  # fmt: skip

    def assign(self, state: _NodeState, request: Request) -> tuple[int, ...]:
        state.cpu += request.cpu
        state.memory += request.memory
        state.replicas[request.deployment] += 1
        state.version += 1
        self.changes.append(state.name)
        return state.take_ports(request.ports)

    def reasons(self, request: Request) -> tuple[str, ...]:
        """Why no node fits, by filter; kept until the next placement changes a node."""
        shape = _shape(request)
        cached = self._reasons.get(shape)
        if cached is None or cached[0] != len(self.changes):
            cached = self._reasons[shape] = (len(self.changes), self._count_reasons(shape))
        return cached[1]

    def _count_reasons(self, shape: _Shape) -> tuple[str, ...]:
        counts: Counter[str] = Counter()
        for state in self.states.values():
            node = state.node
            if not node.ready:
                counts["not ready"] += 1
            elif any(node.labels.get(k) != v for k, v in shape[3]):
                counts["didn't match nodeSelector"] += 1
            else:
                counts["had insufficient cpu"] += state.cpu + shape[0] > node.cpu_capacity
                counts["had insufficient memory"] += state.memory + shape[1] > node.memory_capacity
                counts["had no free host port"] += shape[2] > state.free_ports
        return tuple(f"{n} node(s) {reason}" for reason, n in sorted(counts.items()) if n)


class _Candidates:
    """The nodes one group of like requests can go to, in a lazy max-heap by score.

    Entries are (-score, name, version). A placement bumps its node's version, which makes that
    node's older entries stale. Where scores only fall (spread), a stale entry is an upper bound:
    when popped it is scored again and pushed back, so nothing else is needed. Where they can
    rise (binpack), before each query the group pushes fresh entries for the nodes changed since
    its last query, read from the cluster's change log, and stale entries are dropped when
    popped. A node that stops fitting is dropped for good: within a call allocations only grow.

    A group is either one deployment's (the spread penalty is in the score) or shared by all
    small deployments of one shape (the score leaves the penalty out, so it is an upper bound;
    `best` pops until no remaining entry can beat the best exact score found, which costs at most
    one extra pop per node already holding that deployment). Sharing keeps ten thousand
    single-replica deployments from building ten thousand heaps; owning keeps a deployment
    spread over every node from popping every node.
    """

    def __init__(
        self, cluster: _Cluster, shape: _Shape, deployment: str | None, nodes: list[_NodeState]
    ) -> None:
        self.cluster = cluster
        self.shape = shape
        self.deployment = deployment
        self.members = {state.name for state in nodes}
        self.heap = [self._entry(state) for state in nodes if state.fits(shape)]
        heapq.heapify(self.heap)
        self.synced = len(cluster.changes)

    def _entry(self, state: _NodeState) -> tuple[int, str, int]:
        score = self.cluster.score(state, self.shape)
        if self.deployment is not None:
            score -= SPREAD_PENALTY * state.replicas[self.deployment]
        return (-score, state.name, state.version)

    def best(self, deployment: str) -> _NodeState | None:
        states = self.cluster.states
        if self.cluster.scores_rise:
            for name in dict.fromkeys(self.cluster.changes[self.synced :]):
                if name in self.members and states[name].fits(self.shape):
                    heapq.heappush(self.heap, self._entry(states[name]))
            self.synced = len(self.cluster.changes)

        best: tuple[int, str] | None = None  # (-exact score, name), smallest wins
        kept: list[tuple[int, str, int]] = []
        while self.heap and (best is None or self.heap[0][:2] < best):
            entry = heapq.heappop(self.heap)
            state = states[entry[1]]
            if not state.fits(self.shape):
                continue
            if entry[2] != state.version:
                if not self.cluster.scores_rise:
                    heapq.heappush(self.heap, self._entry(state))
                continue
            kept.append(entry)
            exact = entry[0]
            if self.deployment is None:
                exact += SPREAD_PENALTY * state.replicas[deployment]
            if best is None or (exact, entry[1]) < best:
                best = (exact, entry[1])
        for entry in kept:  # the winner's entry goes stale once it is placed on, see above
            heapq.heappush(self.heap, entry)
        return None if best is None else states[best[1]]


def _shape(request: Request) -> _Shape:
    return (request.cpu, request.memory, request.ports, frozenset(request.node_selector.items()))
