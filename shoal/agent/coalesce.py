"""Coalescing the agent's replica reports: a short window's `started` (or `ready`, `unready`,
`stopped`, `exited`) reports go out as one event listing every replica, whatever node of the
agent it is on.

Each event costs the control plane the same whatever it lists (a broker ingest, a delivery per
Trigger, an invocation of each subscriber), so a sim agent starting 10,000 replicas on 999 nodes
sends tens of `replica.started`, not 10,000. The price is latency: a report waits up to the
window (default 20 ms) for company.

Order: reports of one replica keep their order (a `started` before its `exited`): a report
for a replica that a pending report already names first sends everything pending, oldest group
first. Events that are not replica reports (joins, heartbeats) pass through at once.

A merged event keeps the first report's id and time; its source names the agent
(`/shoal/agents/<agent>`), and its subject and `shoalnode` name the node when all of its
replicas are on one node (and are left out otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from shoal import events
from shoal.agent.agent import EventSink
from shoal.agent.reports import JsonEvent, agent_source

__all__ = ["COALESCED", "Coalescer", "merged"]

COALESCED = frozenset(
    {
        events.REPLICA_STARTED,
        events.REPLICA_READY,
        events.REPLICA_UNREADY,
        events.REPLICA_STOPPED,
        events.REPLICA_EXITED,
    }
)
DEFAULT_WINDOW_SECONDS = 0.02
MAX_REPLICAS_PER_EVENT = 500


def _entries(event: JsonEvent) -> list[Mapping[str, object]]:
    data = event["data"]
    assert isinstance(data, Mapping)
    listed = data["replicas"]
    assert isinstance(listed, list)
    return listed


def merged(reports: Sequence[JsonEvent], agent: str) -> JsonEvent:
    """One event listing every replica of `reports` (of one type, in order)."""
    first = reports[0]
    if len(reports) == 1:
        return first
    replicas = [entry for report in reports for entry in _entries(report)]
    nodes = {str(entry["node"]) for entry in replicas}
    event = {**first, "source": agent_source(agent), "data": {"replicas": replicas}}
    event.pop("subject", None)
    event.pop(events.NODE_EXTENSION, None)
    if len(nodes) == 1:
        node = nodes.pop()
        event["subject"] = node
        event[events.NODE_EXTENSION] = node
    return event


class Coalescer:
    """An event sink in front of another: replica reports merged per type over a window."""

    def __init__(
        self,
        sink: EventSink,
        agent: str,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        max_replicas: int = MAX_REPLICAS_PER_EVENT,
    ) -> None:
        self._sink = sink
        self._agent = agent
        self._window = window_seconds
        self._max = max_replicas
        self._groups: dict[str, list[JsonEvent]] = {}
        self._named: set[str] = set()
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    def send(self, event: JsonEvent, *, supersedes: str | None = None) -> None:
        type_ = str(event["type"])
        if type_ not in COALESCED:
            self._sink.send(event, supersedes=supersedes)
            return
        names = {str(entry["replica"]) for entry in _entries(event)}
        if names & self._named:
            self.flush()
        self._groups.setdefault(type_, []).append(event)
        self._named |= names
        self._count += len(names)
        if self._count >= self._max:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._window, self.flush)

    def flush(self) -> None:
        """Send what is pending now, one event per type, in the order the types first came."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        groups, self._groups, self._named, self._count = self._groups, {}, set(), 0
        for reports in groups.values():
            self._sink.send(merged(reports, self._agent))
