"""The `Node` kind: a machine (or simulated node) an agent runs replicas on; and the
`Allocation` kind: what one placed replica holds on its node."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from shoal.model.replica import ReplicaRecord

NODE = "Node"
ALLOCATION = "Allocation"


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    cpu_millis: int
    memory_mib: int
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: bool = True
    joined_at: float = 0.0
    """The node's last join (an agent start)."""
    created_at: float = 0.0
    """When the Node was first registered: kept across joins, as a Kubernetes Node's
    creationTimestamp is across kubelet restarts; a removed node registers anew. 0 in records
    written before it existed (readers fall back to `joined_at`)."""
    # Owned by the scheduler: what placed replicas hold on this node.
    allocated_cpu_millis: int = 0
    allocated_memory_mib: int = 0
    ports: tuple[int, ...] = ()
    agent_url: str | None = None
    deployment_replicas: Mapping[str, int] = field(default_factory=dict)
    """Owned by the scheduler: how many replicas of each deployment are placed here (it spreads
    a deployment's replicas over nodes by it)."""

    @property
    def registered_at(self) -> float:
        """`created_at`, or for a record written before it existed its `joined_at`."""
        return self.created_at or self.joined_at

    def to_body(self) -> dict[str, object]:
        # Not `asdict`, which deep-copies every value: the scheduler writes many per invocation.
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body["labels"] = dict(self.labels)
        body["ports"] = list(self.ports)
        body["deployment_replicas"] = dict(self.deployment_replicas)
        return body

    def with_allocations(
        self, added: Iterable[Allocation] = (), removed: Iterable[Allocation] = ()
    ) -> NodeRecord:
        """This node with `added` placed on it and `removed` given back: the scheduler's sums."""
        cpu, memory = self.allocated_cpu_millis, self.allocated_memory_mib
        ports, replicas = set(self.ports), Counter(self.deployment_replicas)
        for allocation in added:
            cpu, memory = cpu + allocation.cpu_millis, memory + allocation.memory_mib
            ports.update(allocation.ports)
            replicas[allocation.deployment] += 1
        for allocation in removed:
            cpu, memory = cpu - allocation.cpu_millis, memory - allocation.memory_mib
            ports.difference_update(allocation.ports)
            replicas[allocation.deployment] -= 1
        return replace(
            self,
            allocated_cpu_millis=cpu,
            allocated_memory_mib=memory,
            ports=tuple(sorted(ports)),
            deployment_replicas={d: n for d, n in sorted(replicas.items()) if n > 0},
        )

    def holding(self, allocations: Iterable[Allocation]) -> NodeRecord:
        """This node holding exactly `allocations`."""
        empty = replace(
            self, allocated_cpu_millis=0, allocated_memory_mib=0, ports=(), deployment_replicas={}
        )
        return empty.with_allocations(allocations)

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> NodeRecord:
        values: dict[str, Any] = dict(body)
        values["labels"] = dict(cast(Mapping[str, str], values.get("labels", {})))
        values["ports"] = tuple(cast(list[int], values.get("ports", ())))
        values["deployment_replicas"] = dict(
            cast(Mapping[str, int], values.get("deployment_replicas", {}))
        )
        return cls(**{k: v for k, v in values.items() if k in _FIELDS})


_FIELDS = frozenset(NodeRecord.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Allocation:
    """Owned by the scheduler; named after the replica. Kept apart from the Replica record so
    that what a replica held can be given back even after deployments deleted that record, and
    apart from the Node so that placing reads every node without every replica on it."""

    replica: str
    node: str
    deployment: str
    cpu_millis: int
    memory_mib: int
    ports: tuple[int, ...] = ()

    @classmethod
    def of(cls, replica: ReplicaRecord) -> Allocation:
        """What `replica`, placed, holds on its node."""
        if replica.node is None:
            raise ValueError(f"replica {replica.name} is not placed on a node")
        return cls(
            replica.name,
            replica.node,
            replica.deployment,
            replica.cpu_millis,
            replica.memory_mib,
            replica.ports,
        )

    def to_body(self) -> dict[str, object]:
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body["ports"] = list(self.ports)
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> Allocation:
        values: dict[str, Any] = {k: v for k, v in body.items() if k in _ALLOCATION_FIELDS}
        values["ports"] = tuple(cast(list[int], values.get("ports", ())))
        return cls(**values)


_ALLOCATION_FIELDS = frozenset(Allocation.__dataclass_fields__)
