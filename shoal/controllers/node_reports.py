"""What agents say about their nodes, in `node.joined` and `node.heartbeat`, as `Report`s.

A heartbeat lists every node of its agent (`shoal.events.NodeHeartbeat`); a join is one node.
The time of a report is its arrival at the broker (`knativearrivaltime`), the same for every
node of a heartbeat. Data not shaped as the catalog says raises `PermanentError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

from shoal import events
from shoal.runtime import Event, PermanentError

__all__ = ["ARRIVAL_EXTENSION", "Report", "arrival", "removal_of", "reports_of"]

ARRIVAL_EXTENSION = "knativearrivaltime"


@dataclass(frozen=True, slots=True)
class Report:
    """What an agent says about its node in `node.joined` or `node.heartbeat`."""

    node: str
    cpu_millis: int
    memory_mib: int
    replicas: Mapping[str, str] | None
    """Every replica the node runs -> its deployment; None in a heartbeat without the list."""
    arrived_at: float | None
    """When the broker received it (`knativearrivaltime`), if it says."""
    labels: Mapping[str, str] | None = None
    """A join's; None in a heartbeat, which carries none."""
    agent_url: str | None = None
    """A join's, when the agent says where it serves."""
    usage: tuple[int, int] | None = None
    """A heartbeat's: cpu millicores and memory MiB in use; None in a join."""
    utilization: Mapping[str, float] | None = None
    """A heartbeat's with the list: each replica's cpu use in percent of its request, where
    known; None without the list (the last one stands)."""

    @classmethod
    def of(cls, event: Event, data: Mapping[str, object]) -> Report:
        try:
            capacity = cast(Mapping[str, int], data["capacity"])
            listed = data["replicas"] if event.type == events.NODE_JOINED else data.get("replicas")
            replicas = cast(Sequence[Mapping[str, object]] | None, listed)
            report = cls(
                node=str(data["node"]),
                cpu_millis=int(capacity["cpu_millis"]),
                memory_mib=int(capacity["memory_mib"]),
                replicas=None
                if replicas is None
                else {str(r["replica"]): str(r["deployment"]) for r in replicas},
                arrived_at=arrival(event),
            )
            if event.type == events.NODE_JOINED:
                agent_url = data.get("agent_url")
                if agent_url is not None and not isinstance(agent_url, str):
                    raise TypeError(f"agent_url must be a URL, got {agent_url!r}")
                labels = dict(cast(Mapping[str, str], data["labels"]))
                return replace(report, labels=labels, agent_url=agent_url)
            usage = cast(Mapping[str, int], data["usage"])
            used = (int(usage["cpu_millis"]), int(usage["memory_mib"]))
            if replicas is None:
                return replace(report, usage=used)
            utilization = {
                str(r["replica"]): float(cast(float, r["cpu_utilization"]))
                for r in replicas
                if r.get("cpu_utilization") is not None
            }
            return replace(report, usage=used, utilization=utilization)
        except (KeyError, TypeError, ValueError) as error:
            raise PermanentError(
                f"{event.type} data is not shaped as shoal.events says: {error!r}"
            ) from None


def reports_of(event: Event) -> list[Report]:
    """The join's one node, or each node of the heartbeat."""
    data = event.data_object()
    if event.type == events.NODE_JOINED:
        return [Report.of(event, data)]
    statuses = data.get("nodes")
    if not isinstance(statuses, list) or not all(isinstance(s, Mapping) for s in statuses):
        raise PermanentError(f"{event.type} data needs `nodes`, a list of node statuses")
    return [Report.of(event, status) for status in statuses]


def removal_of(event: Event) -> events.NodeRemoved:
    """A `node.removed`'s data, checked."""
    data = event.data_object()
    node, reason = data.get("node"), data.get("reason", "")
    if not isinstance(node, str) or not node or not isinstance(reason, str):
        raise PermanentError(
            f"{event.type} data needs `node` (the node's name) and `reason` (text), "
            f"got {dict(data)!r}"
        )
    return {"node": node, "reason": reason}


def arrival(event: Event) -> float | None:
    """When the broker received `event` (`knativearrivaltime`), if it says."""
    stamp = event.extensions.get(ARRIVAL_EXTENSION)
    try:
        return datetime.fromisoformat(str(stamp)).timestamp() if stamp is not None else None
    except ValueError:
        return None
