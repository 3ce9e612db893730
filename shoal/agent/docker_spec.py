"""The docker driver's pure core: a replica spec as a container, and a container back as a replica.

A replica's container is named `shoal.<node>.<replica>`, so one node cannot hold two containers
of one replica (Docker refuses the second name), and carries labels naming its node, deployment
and replica, plus its whole spec as JSON: after a restart the agent finds its containers by the
node label and reads each spec exactly as it arrived. The container runs the replica's command
(the image's own when it has none) with the replica's environment (including `$PORT` and
`$PORT_<NAME>`) on the host's network, so the assigned host ports are its own; the replica's cpu
and memory requests become its limits (Docker's `NanoCpus` and `Memory`).

Nothing here talks to Docker: the adapter is `shoal.agent.docker_driver`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shoal.agent.errors import InvalidEvent
from shoal.agent.spec import ReplicaSpec, parse_scheduled

__all__ = [
    "NODE_LABEL",
    "SPEC_LABEL",
    "container_name",
    "cpu_millis",
    "create_arguments",
    "node_filter",
    "parse_started_at",
    "spec_from_labels",
]

NODE_LABEL = "dev.shoal.node"
DEPLOYMENT_LABEL = "dev.shoal.deployment"
REPLICA_LABEL = "dev.shoal.replica"
SPEC_LABEL = "dev.shoal.spec"
MIN_MEMORY_MIB = 6
"""Docker refuses a memory limit below 6 MiB."""
NANO_CPUS_PER_MILLI = 1_000_000
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def container_name(node: str, replica: str) -> str:
    return f"shoal.{node}.{replica}"


def node_filter(node: str) -> dict[str, str | list[str] | bool]:
    """The Engine API filter (`label=`) that selects the containers of one node."""
    return {"label": [f"{NODE_LABEL}={node}"]}


def create_arguments(spec: ReplicaSpec) -> dict[str, Any]:
    """Keyword arguments of docker-py's `containers.create` for the replica. No init process:
    the command is PID 1, as on Kubernetes, so a command that cannot run fails the start."""
    arguments: dict[str, Any] = {
        "image": spec.image,
        "name": container_name(spec.node, spec.name),
        "environment": spec.environment(),
        "labels": {
            NODE_LABEL: spec.node,
            DEPLOYMENT_LABEL: spec.deployment,
            REPLICA_LABEL: spec.name,
            SPEC_LABEL: json.dumps(spec.to_data(), sort_keys=True),
        },
        "network_mode": "host",
        "detach": True,
    }
    if spec.command:
        arguments["command"] = list(spec.argv())
    if spec.resources.cpu_millis > 0:
        arguments["nano_cpus"] = spec.resources.cpu_millis * NANO_CPUS_PER_MILLI
    if spec.resources.memory_mib > 0:
        arguments["mem_limit"] = max(spec.resources.memory_mib, MIN_MEMORY_MIB) * 2**20
    return arguments


def spec_from_labels(labels: Mapping[str, str]) -> ReplicaSpec | None:
    """The spec a container was made from, or None when its labels hold none (not ours)."""
    try:
        return parse_scheduled(json.loads(labels[SPEC_LABEL]))
    except (KeyError, ValueError, InvalidEvent):
        return None


def parse_started_at(text: str) -> float | None:
    """Unix time of Docker's `State.StartedAt` (RFC 3339 with nanoseconds); None for Docker's
    zero time (never started) or text that is not a time."""
    match = _RFC3339.fullmatch(text)
    if match is None or text.startswith("0001-"):
        return None
    seconds, fraction, zone = match.groups()
    stamp = seconds + (f".{fraction[:6]}" if fraction else "") + zone.replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def cpu_millis(cpu_ns: int, now: float, before: tuple[float, int] | None) -> float:
    """Millicores used since the sample `before` (monotonic seconds, cpu ns); 0 for the first."""
    if before is None or now <= before[0]:
        return 0.0
    return max(cpu_ns - before[1], 0) / 1e6 / (now - before[0])
