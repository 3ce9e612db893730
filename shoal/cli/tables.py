"""`shoal get`'s human output: the API's JSON items as kubectl-style tables.

Pure formatting: items (as the API returns them) and the current time in, text out. Columns
are separated by three spaces, as kubectl's; `wide` adds columns at the right. Ages follow
Kubernetes' `duration.HumanDuration` (k8s.io/apimachinery/pkg/util/duration), so `5m30s`,
`3h`, `2d4h` read as they do in `kubectl get`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

Item = Mapping[str, Any]
Columns = Callable[[Item, datetime, bool], list[str]]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    return "".join(line.rstrip() + "\n" for line in lines)


def human_duration(seconds: float) -> str:
    """kubectl's way of writing an age."""
    whole = int(seconds)  # truncated towards zero, as Go's int(d.Seconds())
    if whole < -1:
        return "<invalid>"
    whole = max(0, whole)  # a second or so ahead: clocks differ, it is "now"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 120:
        return f"{whole}s"
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def age(timestamp: object, now: datetime) -> str:
    """The age of an RFC 3339 time from the API; `<unknown>` when there is none."""
    if not isinstance(timestamp, str):
        return "<unknown>"
    return human_duration((now - datetime.fromisoformat(timestamp)).total_seconds())


def _text(value: object) -> str:
    return "<none>" if value is None or value == "" else str(value)


def deployment_columns(item: Item, _now: datetime, wide: bool) -> list[str]:
    row = [
        item["name"],
        f"{item['ready']}/{item['replicas']}",
        str(item["updated"]),
        str(item["available"]),
        item["state"],
    ]
    if wide:
        row += [_text(item.get("revision_number")), _text(item.get("image"))]
    return row


def replica_columns(item: Item, now: datetime, wide: bool) -> list[str]:
    ready = item["phase"] == "running" and item.get("ready_since") is not None
    row = [
        item["name"],
        item["deployment"],
        "1/1" if ready else "0/1",  # kubectl's READY of a one-container pod
        item["phase"],
        _text(item["node"]),
        str(item["restarts"]),
        age(item.get("created_at"), now),
    ]
    if wide:
        ports = ",".join(str(port) for port in item.get("ports", []))
        # A running replica failing its readiness probe says why; otherwise its last exit or
        # why it cannot be placed.
        reason = item.get("unready_reason") or item.get("reason")
        row += [item["revision"], _text(ports), _text(reason)]
    return row


def node_columns(item: Item, now: datetime, wide: bool) -> list[str]:
    capacity, allocated = item["capacity"], item["allocated"]
    row = [
        item["name"],
        "Ready" if item["ready"] else "NotReady",
        f"{allocated['cpu_millis']}m/{capacity['cpu_millis']}m",
        f"{allocated['memory_mib']}Mi/{capacity['memory_mib']}Mi",
        str(item["replicas"]),
        age(item.get("created_at", item.get("joined_at")), now),
    ]
    if wide:
        usage = item["usage"]
        labels = ",".join(f"{k}={v}" for k, v in sorted(item.get("labels", {}).items()))
        row += [
            f"{usage['cpu_millis']}m",
            f"{usage['memory_mib']}Mi",
            age(item.get("last_heartbeat"), now),
            _text(labels),
        ]
    return row


HEADERS = {
    "deployments": (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "STATE"], ["REVISION", "IMAGE"]),
    "replicas": (
        ["NAME", "DEPLOYMENT", "READY", "PHASE", "NODE", "RESTARTS", "AGE"],
        ["REVISION", "PORTS", "REASON"],
    ),
    "nodes": (
        ["NAME", "STATUS", "CPU", "MEMORY", "REPLICAS", "AGE"],
        ["CPU-USED", "MEMORY-USED", "HEARTBEAT", "LABELS"],
    ),
}
COLUMNS: dict[str, Columns] = {
    "deployments": deployment_columns,
    "replicas": replica_columns,
    "nodes": node_columns,
}


def table(resource: str, items: Sequence[Item], now: datetime, *, wide: bool) -> str:
    """`items` of `resource` (deployments, replicas, nodes) as a table."""
    headers, extra = HEADERS[resource]
    rows = [COLUMNS[resource](item, now, wide) for item in items]
    return format_table(headers + extra if wide else headers, rows)
