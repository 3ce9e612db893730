"""The scheduler's view of the nodes within one invocation: read once, placed on, written once."""

from __future__ import annotations

from collections import defaultdict

from shoal.model import ALLOCATION, NODE, Allocation, NodeRecord
from shoal.orchestration.placement import Node
from shoal.state import Transaction

__all__ = ["Cluster"]


class Cluster:
    """Every node as read once per invocation, and what this invocation places on them."""

    def __init__(self, nodes: dict[str, NodeRecord]) -> None:
        self.nodes = nodes
        self.added: defaultdict[str, list[Allocation]] = defaultdict(list)

    @classmethod
    def read(cls, tx: Transaction) -> Cluster:
        return cls({r.name: NodeRecord.from_body(r.body) for r in tx.list(NODE)})

    def allocate(self, tx: Transaction, allocation: Allocation) -> None:
        tx.put(ALLOCATION, allocation.replica, allocation.to_body())
        self.added[allocation.node].append(allocation)

    def node(self, name: str) -> NodeRecord:
        """The node as this invocation leaves it."""
        added = self.added.get(name)
        return self.nodes[name] if added is None else self.nodes[name].with_allocations(added)

    def write(self, tx: Transaction) -> None:
        for name in sorted(self.added):
            tx.put(NODE, name, self.node(name).to_body())

    def view(self) -> list[Node]:
        return [as_node(self.node(name)) for name in self.nodes]


def as_node(record: NodeRecord) -> Node:
    return Node(
        name=record.name,
        cpu_capacity=record.cpu_millis,
        memory_capacity=record.memory_mib,
        cpu_allocated=record.allocated_cpu_millis,
        memory_allocated=record.allocated_memory_mib,
        ready=record.ready,
        labels=record.labels,
        used_ports=frozenset(record.ports),
        deployment_replicas=record.deployment_replicas,
    )
