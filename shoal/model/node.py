"""The `Node` kind: a machine (or simulated node) an agent runs replicas on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

NODE = "Node"


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one placed replica holds on its node: its requests and its host ports."""

    deployment: str
    cpu_millis: int
    memory_mib: int
    ports: tuple[int, ...] = ()

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> Allocation:
        return cls(
            deployment=str(body["deployment"]),
            cpu_millis=int(cast(int, body["cpu_millis"])),
            memory_mib=int(cast(int, body["memory_mib"])),
            ports=tuple(cast(list[int], body.get("ports", ()))),
        )


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
    # Owned by the scheduler: each placed replica's share, by replica name; `allocated_*` and
    # `ports` are their sums. Kept per replica so a replica's resources can be given back from
    # the node alone, even after its Replica record was deleted.
    allocations: Mapping[str, Allocation] = field(default_factory=dict)

    def to_body(self) -> dict[str, object]:
        # Not `asdict`, which deep-copies every value: a heartbeat writes this every second.
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body["labels"] = dict(self.labels)
        body["ports"] = list(self.ports)
        body["replica_cpu_utilization"] = dict(self.replica_cpu_utilization)
        body["allocations"] = {
            replica: {
                "deployment": a.deployment,
                "cpu_millis": a.cpu_millis,
                "memory_mib": a.memory_mib,
                "ports": list(a.ports),
            }
            for replica, a in self.allocations.items()
        }
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> NodeRecord:
        values: dict[str, Any] = dict(body)
        values["labels"] = dict(cast(Mapping[str, str], values.get("labels", {})))
        values["ports"] = tuple(cast(list[int], values.get("ports", ())))
        values["replica_cpu_utilization"] = dict(
            cast(Mapping[str, float], values.get("replica_cpu_utilization", {}))
        )
        values["allocations"] = {
            replica: Allocation.from_body(allocation)
            for replica, allocation in cast(
                Mapping[str, Mapping[str, object]], values.get("allocations", {})
            ).items()
        }
        return cls(**{k: v for k, v in values.items() if k in _FIELDS})

    def with_allocations(self, allocations: Mapping[str, Allocation]) -> NodeRecord:
        """This node holding exactly `allocations`, with the sums recomputed."""
        held = allocations.values()
        return replace(
            self,
            allocations=dict(allocations),
            allocated_cpu_millis=sum(a.cpu_millis for a in held),
            allocated_memory_mib=sum(a.memory_mib for a in held),
            ports=tuple(sorted(port for a in held for port in a.ports)),
        )

    def release(self, replica: str) -> NodeRecord:
        """This node without `replica`'s share (itself when it holds none)."""
        if replica not in self.allocations:
            return self
        return self.with_allocations(
            {name: a for name, a in self.allocations.items() if name != replica}
        )


_FIELDS = frozenset(NodeRecord.__dataclass_fields__)
