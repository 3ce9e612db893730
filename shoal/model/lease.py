"""The `Lease` kind: a node's liveness, renewed by each of its heartbeats.

Like the Lease Kubernetes keeps per node (`coordination.k8s.io/v1` in `kube-node-lease`, renewed
by the kubelet every 10 s), it is small and separate from the Node: a heartbeat writes only
this record, never the Node, whose allocation sums the scheduler writes. So heartbeats cost one
small read and one small write, and on PostgreSQL they never conflict (SERIALIZABLE) with the
scheduler's transactions on Node rows. Owned by nodes; named after the node.

Unlike Kubernetes' Lease it also carries the last heartbeat's usage figures, which the
autoscaler reads (Kubernetes has the metrics server for those): one record per heartbeat,
not two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

__all__ = ["LEASE", "LeaseRecord"]

LEASE = "Lease"


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    node: str
    renewed_at: float
    """The arrival at the broker of the node's last heartbeat (or join)."""
    expired: bool = False
    """True once nodes declared the node lost; its next heartbeat or join brings it back."""
    silent: bool = False
    """True while the node is silent but not lost (`shoal.orchestration.nodes.silent_nodes`):
    its Node is not ready, its replicas kept; its next heartbeat makes it ready again."""
    usage_cpu_millis: int = 0
    usage_memory_mib: int = 0
    replica_cpu_utilization: Mapping[str, float] = field(default_factory=dict)
    """Replica -> cpu use in percent of its request, from the last heartbeat."""
    removed_at: float | None = None
    """When a `node.removed` arrived (the node is hidden, not ready, its Lease expired). Reports
    that arrived before it are stale and ignored; a later join or heartbeat brings it back."""

    def to_body(self) -> dict[str, object]:
        return {
            "node": self.node,
            "renewed_at": self.renewed_at,
            "expired": self.expired,
            **({"silent": True} if self.silent else {}),
            "usage_cpu_millis": self.usage_cpu_millis,
            "usage_memory_mib": self.usage_memory_mib,
            "replica_cpu_utilization": dict(self.replica_cpu_utilization),
            **({} if self.removed_at is None else {"removed_at": self.removed_at}),
        }

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> LeaseRecord:
        return cls(
            node=str(body["node"]),
            renewed_at=float(cast(float, body["renewed_at"])),
            expired=bool(body.get("expired", False)),
            silent=bool(body.get("silent", False)),
            usage_cpu_millis=int(cast(int, body.get("usage_cpu_millis", 0))),
            usage_memory_mib=int(cast(int, body.get("usage_memory_mib", 0))),
            replica_cpu_utilization=dict(
                cast(Mapping[str, float], body.get("replica_cpu_utilization", {}))
            ),
            removed_at=_optional_time(body.get("removed_at")),
        )


def _optional_time(value: object) -> float | None:
    return None if value is None else float(cast(float, value))
