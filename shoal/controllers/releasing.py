"""The scheduler's releasing: what ended replicas held goes back to their nodes.

- `replica.stopped`, `replica.lost`, and `replica.exited` for a replica that no longer holds
  its node: each listed replica's Allocation is given back (it outlives the Replica record,
  which deployments may delete first) and its Node's sums shrink, one write per node.
- `resync` rebuilds the Allocations and the Nodes' sums from the Replica records, so a lost
  event cannot leak capacity for good.

Both answer whether capacity changed, so the caller retries the waiting replicas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shoal import events
from shoal.controllers.cluster import Cluster
from shoal.controllers.records import load_replica
from shoal.model import (
    ACTIVE_PHASES,
    ALLOCATION,
    NODE,
    REPLICA,
    Allocation,
    NodeRecord,
    ReplicaRecord,
)
from shoal.orchestration.batches import grouped
from shoal.runtime import FunctionLogger
from shoal.state import Transaction

__all__ = ["free", "resync"]


def free(tx: Transaction, kind: str, listed: Sequence[Mapping[str, object]]) -> bool:
    """Give back what the listed replicas hold on their nodes; True when anything was."""
    freed: list[Allocation] = []
    for entry in listed:
        name, node = str(entry["replica"]), str(entry["node"])
        if kind == events.REPLICA_EXITED and _holds(tx, node, name):
            continue  # exited but still its node's: deployments restarts it in place
        resource = tx.get(ALLOCATION, name)
        allocation = None if resource is None else Allocation.from_body(resource.body)
        if allocation is not None and allocation.node == node:
            tx.delete(ALLOCATION, name)
            freed.append(allocation)
    for node, allocations in grouped(freed, lambda allocation: allocation.node).items():
        resource = tx.get(NODE, node)
        if resource is not None:
            record = NodeRecord.from_body(resource.body).with_allocations(removed=allocations)
            tx.put(NODE, node, record.to_body())
    return bool(freed)


def resync(tx: Transaction, log: FunctionLogger) -> bool:
    """Allocations and node sums rebuilt from the active replicas; True when a node changed."""
    cluster = Cluster.read(tx)
    wanted: dict[str, Allocation] = {}
    for resource in tx.list(REPLICA):
        replica = ReplicaRecord.from_body(resource.body)
        if replica.phase in ACTIVE_PHASES and replica.node in cluster.nodes:
            wanted[replica.name] = Allocation.of(replica)
    held = {r.name: Allocation.from_body(r.body) for r in tx.list(ALLOCATION)}
    for name in held.keys() - wanted.keys():
        tx.delete(ALLOCATION, name)
    for name, allocation in wanted.items():
        if held.get(name) != allocation:
            tx.put(ALLOCATION, name, allocation.to_body())
    by_node: dict[str, list[Allocation]] = {name: [] for name in cluster.nodes}
    for allocation in wanted.values():
        by_node[allocation.node].append(allocation)
    changed = False
    for name, allocations in by_node.items():
        node = cluster.nodes[name].holding(allocations)
        if node != cluster.nodes[name]:
            log.warning("node allocations resynchronised", node=name)
            tx.put(NODE, name, node.to_body())
            changed = True
    return changed


def _holds(tx: Transaction, node: str, name: str) -> bool:
    """Whether the Replica `name` is still active on `node` (so it keeps its share there)."""
    replica = load_replica(tx, name)
    return replica is not None and replica.node == node and replica.phase in ACTIVE_PHASES
