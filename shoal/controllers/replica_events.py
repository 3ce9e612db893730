"""The replica events the functions emit, one per node (or per invocation) with a list.

An event for an agent (`replica.scheduled`, `replica.stop.requested`) lists one node's replicas
and names the node in its `shoalnode` extension (the agent's Trigger filters on it) and subject.
"""

from __future__ import annotations

from collections.abc import Sequence

from shoal import events
from shoal.orchestration.batches import grouped
from shoal.runtime import Emit

__all__ = ["lost", "scheduled", "stop_requested", "unschedulable"]


def stop_requested(stops: Sequence[events.ReplicaOnNode]) -> list[Emit]:
    """`replica.stop.requested`, one per node."""
    return _per_node(events.REPLICA_STOP_REQUESTED, stops)


def scheduled(placed: Sequence[events.ScheduledReplica]) -> list[Emit]:
    """`replica.scheduled`, one per node."""
    return _per_node(events.REPLICA_SCHEDULED, placed)


def _per_node(
    type_: str, entries: Sequence[events.ReplicaOnNode | events.ScheduledReplica]
) -> list[Emit]:
    return [
        Emit(type_, {"replicas": listed}, subject=node, extensions={events.NODE_EXTENSION: node})
        for node, listed in grouped(entries, lambda entry: entry["node"]).items()
    ]


def unschedulable(replicas: Sequence[events.UnschedulableReplica]) -> list[Emit]:
    if not replicas:
        return []
    data: events.ReplicaUnschedulable = {"replicas": replicas}
    deployments = {replica["deployment"] for replica in replicas}
    subject = deployments.pop() if len(deployments) == 1 else None
    return [Emit(events.REPLICA_UNSCHEDULABLE, dict(data), subject=subject)]


def lost(node: str, replicas: Sequence[events.LostReplica]) -> list[Emit]:
    """`replica.lost` for the replicas of one lost node, subject the node."""
    if not replicas:
        return []
    data: events.ReplicaLost = {"replicas": replicas}
    return [Emit(events.REPLICA_LOST, dict(data), subject=node)]
