"""The events the agent sends, built as JSON event format dicts (pure, given a clock and ids).

Every event has source `/shoal/agents/<node>`, the extension `shoalnode=<node>` and JSON data
whose shape is the catalog's (`shoal.events`); `subject` is the node's name. A replica report
lists one replica (`data.replicas`); `shoal.agent.coalesce` merges the reports of a short window
into one event. Each event gets a fresh id: a re-report is a new fact ("it is still running"),
while a retried POST of the same event keeps its id, so the broker's (source, id) deduplication
drops the copy.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from shoal import events
from shoal.agent.driver import Usage
from shoal.agent.spec import ReplicaSpec
from shoal.orchestration.spec import Resources

__all__ = ["JsonEvent", "Reporter", "agent_source", "cpu_utilization", "rfc3339"]

JsonEvent = dict[str, object]


def agent_source(node: str) -> str:
    return f"/shoal/agents/{node}"


@functools.lru_cache(maxsize=65536)
def rfc3339(unix_time: float) -> str:
    """Cached: a heartbeat formats every replica's (unchanging) start time each second."""
    moment = datetime.fromtimestamp(unix_time, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cpu_utilization(used_millis: float, requested_millis: int) -> int | None:
    """Percent of the cpu request in use, as HPA measures it; None when nothing was requested."""
    if requested_millis <= 0:
        return None
    return round(used_millis * 100 / requested_millis)


def _capacity(resources: Resources) -> events.Capacity:
    return {"cpu_millis": resources.cpu_millis, "memory_mib": resources.memory_mib}


class Reporter:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._clock = clock
        self._new_id = new_id

    def event(self, type_: str, node: str, subject: str, data: Mapping[str, object]) -> JsonEvent:
        return {
            "specversion": "1.0",
            "id": self._new_id(),
            "source": agent_source(node),
            "type": type_,
            "subject": subject,
            "time": rfc3339(self._clock()),
            "datacontenttype": "application/json",
            events.NODE_EXTENSION: node,
            "data": data,
        }

    def started(self, spec: ReplicaSpec) -> JsonEvent:
        entry: events.ReplicaOnNode = {
            "deployment": spec.deployment,
            "replica": spec.name,
            "node": spec.node,
            "at": self._clock(),
        }
        data: events.ReplicasOnNodes = {"replicas": [entry]}
        return self.event(events.REPLICA_STARTED, spec.node, spec.node, data)

    def readiness(self, spec: ReplicaSpec, ready: bool, reason: str | None) -> JsonEvent:
        """`replica.ready`, or `replica.unready` with the failed probe's `reason`."""
        entry: events.ReadinessChange = {
            "deployment": spec.deployment,
            "replica": spec.name,
            "node": spec.node,
            "at": self._clock(),
        }
        if not ready and reason is not None:
            entry["reason"] = reason
        data: events.ReplicaReadiness = {"replicas": [entry]}
        kind = events.REPLICA_READY if ready else events.REPLICA_UNREADY
        return self.event(kind, spec.node, spec.node, data)

    def stopped(self, node: str, deployment: str, replica: str) -> JsonEvent:
        entry: events.ReplicaOnNode = {"deployment": deployment, "replica": replica, "node": node}
        data: events.ReplicasOnNodes = {"replicas": [entry]}
        return self.event(events.REPLICA_STOPPED, node, node, data)

    def exited(
        self, node: str, deployment: str, replica: str, exit_code: int, reason: str
    ) -> JsonEvent:
        entry: events.ExitedReplica = {
            "deployment": deployment,
            "replica": replica,
            "node": node,
            "exit_code": exit_code,
            "reason": reason,
            "at": self._clock(),
        }
        data: events.ReplicaExited = {"replicas": [entry]}
        return self.event(events.REPLICA_EXITED, node, node, data)

    def joined(
        self,
        node: str,
        capacity: Resources,
        labels: Mapping[str, str],
        replicas: Iterable[ReplicaSpec],
        *,
        agent_url: str | None = None,
    ) -> JsonEvent:
        data: events.NodeJoined = {
            "node": node,
            "capacity": _capacity(capacity),
            "labels": dict(labels),
            "replicas": [{"deployment": r.deployment, "replica": r.name} for r in replicas],
        }
        if agent_url is not None:
            data["agent_url"] = agent_url
        return self.event(events.NODE_JOINED, node, node, data)

    def removed(self, node: str, reason: str) -> JsonEvent:
        data: events.NodeRemoved = {"node": node, "reason": reason}
        return self.event(events.NODE_REMOVED, node, node, data)

    def status(
        self,
        node: str,
        capacity: Resources,
        replicas: Iterable[tuple[ReplicaSpec, float, Usage | None]],
    ) -> events.NodeStatus:
        """One node's part of a heartbeat. `replicas`: each running replica with its start time
        and its usage (None: unknown)."""
        allocated_cpu = allocated_memory = used_cpu = used_memory = 0
        entries: list[events.ReplicaUsage] = []
        for spec, started_at, usage in replicas:
            requested = spec.resources
            allocated_cpu += requested.cpu_millis
            allocated_memory += requested.memory_mib
            cpu = round(usage.cpu_millis) if usage else 0
            memory = round(usage.memory_mib) if usage else 0
            used_cpu += cpu
            used_memory += memory
            utilization = cpu_utilization(usage.cpu_millis, requested.cpu_millis) if usage else None
            entries.append(
                {
                    "deployment": spec.deployment,
                    "replica": spec.name,
                    "cpu_millis": cpu,
                    "memory_mib": memory,
                    "cpu_utilization": utilization,
                    "started_at": rfc3339(started_at),
                }
            )
        return {
            "node": node,
            "capacity": _capacity(capacity),
            "allocated": {"cpu_millis": allocated_cpu, "memory_mib": allocated_memory},
            "usage": {"cpu_millis": used_cpu, "memory_mib": used_memory},
            "replicas": entries,
        }

    def heartbeat(self, agent: str, statuses: Sequence[events.NodeStatus]) -> JsonEvent:
        """A heartbeat of the agent's nodes; subject and `shoalnode` name the node when there
        is one, and are left out otherwise (source: the agent)."""
        data: events.NodeHeartbeat = {"nodes": list(statuses)}
        if len(statuses) == 1:
            node = statuses[0]["node"]
            return self.event(events.NODE_HEARTBEAT, node, node, data)
        event = self.event(events.NODE_HEARTBEAT, agent, agent, data)
        del event["subject"], event[events.NODE_EXTENSION]
        return event
