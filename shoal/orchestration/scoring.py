"""What the scheduler knows about nodes and replicas, and how it scores a node for a replica.

Filters, as kube-scheduler's filter plugins do
(https://kubernetes.io/docs/concepts/scheduling-eviction/kube-scheduler/#kube-scheduler-implementation):
the node is ready; the replica's CPU and memory fit in capacity minus allocated
(NodeResourcesFit); every nodeSelector label is on the node with that value
(https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodeselector); and a
replica that wants host ports finds that many free in the port range.

Score, as NodeResourcesFit's scoring strategies do
(https://kubernetes.io/docs/concepts/scheduling-eviction/resource-bin-packing/). For each of
cpu and memory, with requested = allocated + this replica's request, in integer arithmetic:

    spread  (LeastAllocated): (capacity - requested) * 100 // capacity
    binpack (MostAllocated):  requested * 100 // capacity          (0 when capacity is 0)

The node's resource score is their mean with weights 1 and 1, rounded down: 0..100. Then
`SPREAD_PENALTY` points come off per replica of the same deployment already on the node, so one
deployment's replicas spread over nodes (the job kube-scheduler's default topology spreading
does). The highest score wins; ties go to the node whose name sorts first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_PORT_RANGE",
    "SPREAD_PENALTY",
    "Node",
    "Request",
    "Strategy",
    "resource_score",
]

Strategy = Literal["spread", "binpack"]

# Kubernetes' default NodePort range, for the host ports replicas get as $PORT.
DEFAULT_PORT_RANGE = range(30000, 32768)
# Worth about a tenth of a node's resources: it breaks ties between similar nodes and keeps a
# deployment off a node it is already on unless the alternatives are clearly worse, without
# defeating bin packing when the user asked for it.
SPREAD_PENALTY = 10


@dataclass(frozen=True)
class Node:
    """A node as the scheduler sees it. CPU in millicores, memory in MiB."""

    name: str
    cpu_capacity: int
    memory_capacity: int
    cpu_allocated: int = 0
    memory_allocated: int = 0
    ready: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)
    used_ports: frozenset[int] = frozenset()
    deployment_replicas: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One replica to place; `ports` is how many host ports it needs."""

    replica: str
    deployment: str
    cpu: int = 0
    memory: int = 0
    ports: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)


def resource_score(
    cpu_requested: int, cpu_capacity: int, memory_requested: int, memory_capacity: int,
    strategy: Strategy,
) -> int:  # fmt: skip
    """NodeResourcesFit's score (0..100) of a node whose requests would total these."""
    total = 0
    for requested, capacity in ((cpu_requested, cpu_capacity), (memory_requested, memory_capacity)):
        if capacity > 0:
            share = requested if strategy == "binpack" else capacity - requested
            total += share * 100 // capacity
    return total // 2
