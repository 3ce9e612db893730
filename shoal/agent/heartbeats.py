"""What an agent's heartbeats say: every node's capacity, allocation and usage, and every
`REPLICA_LIST_EVERY` beats (or when they changed) the replicas it runs, up to `HEARTBEAT_NODES`
nodes an event: the nodes of one agent run in one process and live and die together, and each
event costs the control plane an invocation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shoal import events
from shoal.agent.driver import Usage
from shoal.agent.reports import JsonEvent, Reporter
from shoal.agent.spec import ReplicaSpec
from shoal.orchestration.spec import Resources

__all__ = ["HEARTBEAT_NODES", "REPLICA_LIST_EVERY", "Beat", "Heartbeats"]

REPLICA_LIST_EVERY = 5
"""A node's heartbeat lists its replicas (with their usage) every this many heartbeats, and
whenever they changed; the others carry the sums only (`events.NodeStatus`)."""
HEARTBEAT_NODES = 100
"""Nodes per heartbeat event of an agent running many (sim) nodes: about 150 KiB of data at
ten replicas a node."""

Beat = tuple[list[tuple[JsonEvent, str]], bool]
"""The heartbeat events, each with the key a newer one supersedes it by, and whether this beat
listed every replica."""


class Heartbeats:
    def __init__(
        self, agent: str, nodes: Sequence[str], capacity: Resources, reporter: Reporter
    ) -> None:
        self._agent = agent
        self._nodes = tuple(nodes)
        self._capacity = capacity
        self._report = reporter
        self._beats = 0
        self._listed: dict[str, frozenset[str]] = {}

    def beat(
        self, running: Mapping[str, tuple[ReplicaSpec, float]], usage: Mapping[str, Usage]
    ) -> Beat:
        """The next beat, for the replicas `running` (name -> spec and start time)."""
        by_node: dict[str, list[tuple[ReplicaSpec, float, Usage | None]]] = {}
        for name, (spec, started_at) in running.items():
            by_node.setdefault(spec.node, []).append((spec, started_at, usage.get(name)))
        full = self._beats % REPLICA_LIST_EVERY == 0
        self._beats += 1
        statuses: list[events.NodeStatus] = []
        for node in self._nodes:
            on_node = by_node.get(node, [])
            status = self._report.status(node, self._capacity, on_node)
            names = frozenset(spec.name for spec, _, _ in on_node)
            if full or self._listed.get(node) != names:
                self._listed[node] = names
            else:
                del status["replicas"]  # unchanged since the last list: the heartbeat stays small
            statuses.append(status)
        sent = [
            (
                self._report.heartbeat(self._agent, statuses[first : first + HEARTBEAT_NODES]),
                f"heartbeat/{first}",
            )
            for first in range(0, len(statuses), HEARTBEAT_NODES)
        ]
        return sent, full
