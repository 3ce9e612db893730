"""The `Node` kind: a machine (or simulated node) an agent runs replicas on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

NODE = "Node"


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    cpu_millis: int
    memory_mib: int
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: bool = True
    joined_at: float = 0.0
    last_heartbeat: float = 0.0
    # Owned by the scheduler: what placed replicas hold on this node.
    allocated_cpu_millis: int = 0
    allocated_memory_mib: int = 0
    ports: tuple[int, ...] = ()
    # From heartbeats: measured usage and per-replica cpu utilisation (percent of request).
    usage_cpu_millis: int = 0
    usage_memory_mib: int = 0
    replica_cpu_utilization: Mapping[str, float] = field(default_factory=dict)
    agent_url: str | None = None

    def to_body(self) -> dict[str, object]:
        body = asdict(self)
        body["labels"] = dict(self.labels)
        body["ports"] = list(self.ports)
        body["replica_cpu_utilization"] = dict(self.replica_cpu_utilization)
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> NodeRecord:
        values: dict[str, Any] = dict(body)
        values["labels"] = dict(cast(Mapping[str, str], values.get("labels", {})))
        values["ports"] = tuple(cast(list[int], values.get("ports", ())))
        values["replica_cpu_utilization"] = dict(
            cast(Mapping[str, float], values.get("replica_cpu_utilization", {}))
        )
        return cls(**{k: v for k, v in values.items() if k in _FIELDS})


_FIELDS = frozenset(NodeRecord.__dataclass_fields__)
