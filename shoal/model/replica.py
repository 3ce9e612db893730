"""The `Replica` kind: one running (or wanted) copy of a deployment's revision."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

REPLICA = "Replica"

Phase = Literal[
    "pending",  # created by deployments, waiting for the scheduler
    "unschedulable",  # no node fits; retried when capacity appears
    "scheduled",  # placed on a node; its agent was told to start it
    "running",  # the agent reported it started
    "exited",  # the process ended; deployments restarts it after a back-off
    "stopping",  # deployments asked the agent to stop it
    "stopped",  # the agent reported it stopped (the record is then deleted)
    "lost",  # its node was lost; deployments replaces it
]
PHASES: tuple[Phase, ...] = (
    "pending",
    "unschedulable",
    "scheduled",
    "running",
    "exited",
    "stopping",
    "stopped",
    "lost",
)
# Holding resources on a node (counted against its capacity).
ACTIVE_PHASES: frozenset[Phase] = frozenset({"scheduled", "running", "exited", "stopping"})
TERMINAL_PHASES: frozenset[Phase] = frozenset({"stopped", "lost"})


def replica_name(deployment: str, revision: str, ordinal_seed: str) -> str:
    """A stable, unique replica name: the same seed always gives the same name, so a
    re-run of the same invocation creates the same replicas (deterministic, like event ids)."""
    suffix = hashlib.sha256(f"{deployment}/{revision}/{ordinal_seed}".encode()).hexdigest()[:8]
    return f"{deployment}-{revision[:6]}-{suffix}"


@dataclass(frozen=True, slots=True)
class ReplicaRecord:
    name: str
    deployment: str
    revision: str
    phase: Phase = "pending"
    node: str | None = None
    ports: tuple[int, ...] = ()
    cpu_millis: int = 0
    memory_mib: int = 0
    port_count: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    ready_since: float | None = None
    probed: bool = False
    """Its template has a readiness probe: ready only once its agent reports `replica.ready`,
    not when it starts."""
    readiness_at: float | None = None
    """The agent's time of the newest news applied that bears on readiness (`replica.ready`,
    `.unready`, and `started` and `exited`, which begin and end a run): readiness news older
    than it, arriving late, is ignored."""
    unready_reason: str | None = None
    """Why its readiness probe failed, from its last `replica.unready`, until it is ready again
    or runs anew."""
    restarts: int = 0
    restart_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    requested_at: float = 0.0
    """When deployments last asked for this replica's next step: placing or starting it (in
    `replica.requested`) or stopping it; a reconcile asks again when no news came for a while."""

    def to_body(self) -> dict[str, object]:
        # Not `asdict`, which deep-copies every value: the scheduler writes 10,000 per call.
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body["ports"] = list(self.ports)
        body["node_selector"] = dict(self.node_selector)
        return body

    def labels(self) -> dict[str, str]:
        labels = {"deployment": self.deployment, "revision": self.revision}
        if self.node is not None:
            labels["node"] = self.node
        return labels

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> ReplicaRecord:
        values: dict[str, Any] = dict(body)
        values["ports"] = tuple(cast(list[int], values.get("ports", ())))
        values["node_selector"] = dict(cast(Mapping[str, str], values.get("node_selector", {})))
        return cls(**{k: v for k, v in values.items() if k in _FIELDS})


_FIELDS = frozenset(ReplicaRecord.__dataclass_fields__)
