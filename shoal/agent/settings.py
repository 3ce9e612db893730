"""The agent's settings: one dataclass, filled from CLI options at the edge, checked on creation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from shoal.agent.errors import AgentError
from shoal.agent.sim import SimSettings
from shoal.orchestration.spec import Resources

__all__ = ["DRIVERS", "AgentSettings", "SettingsError", "node_names"]

DRIVERS = ("sim", "exec", "docker")
DEFAULT_CAPACITY = Resources(cpu_millis=4000, memory_mib=8192)
# A DNS-1123 label, as Knative needs for the Trigger named after the agent.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class SettingsError(AgentError, ValueError):
    """Settings the agent cannot run with; the message says which option to change and how."""


def _no_labels() -> Mapping[str, str]:
    return MappingProxyType({})


def node_names(name: str, nodes: int) -> tuple[str, ...]:
    """The agent's node names: its own name, or `name-0 .. name-(nodes-1)` for several."""
    return (name,) if nodes == 1 else tuple(f"{name}-{index}" for index in range(nodes))


@dataclass(frozen=True, slots=True)
class AgentSettings:
    name: str
    broker_url: str
    driver: str = "exec"
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    advertise_url: str | None = None
    """The URL the broker delivers to; by default http://<listen host>:<bound port>/."""
    capacity: Resources = DEFAULT_CAPACITY
    labels: Mapping[str, str] = field(default_factory=_no_labels)
    nodes: int = 1
    heartbeat_interval: float = 1.0
    data_dir: Path | None = None
    """Where the agent keeps its state; by default .shoal/agents/<name>."""
    sim: SimSettings = field(default_factory=SimSettings)
    batch: bool | None = None
    """Coalesce events into batch POSTs; by default only with the sim driver."""
    write_trigger: Path | None = None
    """A folder to write the agent's Trigger into (one the local broker watches)."""
    stop_grace_seconds: float = 10.0
    stop_replicas_on_exit: bool = False
    """Stop every replica when the agent exits cleanly (`shoal up`'s agent); by default they keep
    running and the next agent adopts them, as a node's containers outlive a kubelet restart."""
    flush_timeout_seconds: float = 5.0
    retention_seconds: float = 3600.0
    """How long the records of stopped and exited replicas are kept."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.driver not in DRIVERS:
            problems.append(f"--driver {self.driver!r}: choose one of {', '.join(DRIVERS)}")
        if self.nodes < 1 or (self.nodes > 1 and self.driver != "sim"):
            problems.append(f"--nodes {self.nodes}: at least 1, and above 1 only with --driver sim")
        for node in node_names(self.name, max(self.nodes, 1))[-1:]:
            if not _NAME.fullmatch(node):
                problems.append(
                    f"--name {self.name!r}: node names ({node!r}) must be DNS labels: at most 63 "
                    "lowercase letters, digits and '-', starting and ending with a letter or digit"
                )
        if not self.heartbeat_interval > 0:
            problems.append(f"--heartbeat-interval {self.heartbeat_interval}: must be above 0")
        if self.capacity.cpu_millis < 0 or self.capacity.memory_mib < 0:
            problems.append("--cpu and --memory must not be negative")
        if not self.broker_url.startswith(("http://", "https://")):
            problems.append(f"--broker {self.broker_url!r}: must be an http:// or https:// URL")
        if problems:
            raise SettingsError("; ".join(problems))

    @property
    def node_names(self) -> tuple[str, ...]:
        return node_names(self.name, self.nodes)

    @property
    def state_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else Path(".shoal/agents") / self.name

    @property
    def batching(self) -> bool:
        return self.batch if self.batch is not None else self.driver == "sim"
