"""What a driver runs: a `ReplicaSpec`, read from an entry of `dev.shoal.replica.scheduled`.

An event lists many replicas (`data.replicas`); each spec is one entry, validated; `to_data()`
gives that entry back, which is also what the agent persists, so a spec survives a restart
exactly as it arrived. The environment a replica sees is its own `env` plus the host ports the
scheduler assigned: `PORT_<NAME>` for each named port (upper case, `-` as `_`) and `PORT` for
the first. `$PORT`, `${PORT}` and the other variables of that environment are substituted in
the command (`$$` is a literal `$`), as the Deployment spec's
`command: ["httpd", "-p", "$PORT"]` expects.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from shoal import events
from shoal.agent.errors import InvalidEvent
from shoal.orchestration.probes import Probe, ProbeError, probe_from_data, probes_data
from shoal.orchestration.spec import Resources

__all__ = [
    "AssignedPort",
    "ReplicaSpec",
    "parse_scheduled",
    "parse_scheduled_event",
    "parse_stop_requested",
]

# A DNS-1123 subdomain: safe as a file name, a container name and a label value.
_REPLICA_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def _no_env() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class AssignedPort:
    name: str
    port: int

    @property
    def variable(self) -> str:
        return "PORT_" + self.name.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class ReplicaSpec:
    name: str
    deployment: str
    node: str
    image: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=_no_env)
    resources: Resources = field(default_factory=Resources)
    ports: tuple[AssignedPort, ...] = ()
    readiness: Probe | None = None
    """Probed by the agent once started (`shoal.agent.probing`); None: ready once started."""
    liveness: Probe | None = None
    """Probed by the agent once started; when it fails, the agent kills the replica."""
    startup: Probe | None = None
    """Probed first; the other two wait until it passes, and failing it kills the replica."""

    def probe_port(self) -> int | None:
        """The host port the readiness probe checks (None without one, or for an exec probe)."""
        return None if self.readiness is None else self.port_for(self.readiness)

    def port_for(self, probe: Probe) -> int | None:
        """The host port `probe` checks (None for an exec probe)."""
        if probe.action == "exec":
            return None
        return next(port.port for port in self.ports if port.name == probe.port)

    def environment(self) -> dict[str, str]:
        """`env` plus the assigned ports, which win over an `env` entry of the same name."""
        ports = {port.variable: str(port.port) for port in self.ports}
        first = {"PORT": str(self.ports[0].port)} if self.ports else {}
        return {**self.env, **first, **ports}

    def argv(self) -> tuple[str, ...]:
        """The command with the environment's `$NAME` / `${NAME}` substituted."""
        return self.substituted(self.command)

    def substituted(self, argv: Sequence[str]) -> tuple[str, ...]:
        """`argv` with the environment's `$NAME` / `${NAME}` substituted (`$$` is `$`)."""
        environment = self.environment()
        return tuple(string.Template(arg).safe_substitute(environment) for arg in argv)

    def to_data(self) -> events.ScheduledReplica:
        return {
            "deployment": self.deployment,
            "replica": self.name,
            "node": self.node,
            "image": self.image,
            "command": list(self.command),
            "env": dict(self.env),
            "resources": {
                "cpu_millis": self.resources.cpu_millis,
                "memory_mib": self.resources.memory_mib,
            },
            "ports": [{"name": port.name, "port": port.port} for port in self.ports],
            **probes_data(self.readiness, self.liveness, self.startup),
        }


def parse_scheduled_event(data: object) -> list[ReplicaSpec]:
    """The specs a `replica.scheduled` event lists; InvalidEvent naming the field at fault."""
    return [parse_scheduled(entry) for entry in _listed(data)]


def parse_stop_requested(data: object) -> list[events.ReplicaOnNode]:
    """The replicas (with node and deployment) a `replica.stop.requested` event lists."""
    return [
        {
            "deployment": _text(fields, "deployment"),
            "replica": _replica_name(fields),
            "node": _text(fields, "node"),
        }
        for fields in _listed(data)
    ]


def parse_scheduled(data: object) -> ReplicaSpec:
    """The spec of one `replica.scheduled` entry (what `to_data` gives back)."""
    fields = _object(data, "data")
    resources = _object(fields.get("resources", {}), "data.resources")
    ports = tuple(_ports(fields.get("ports", [])))
    return ReplicaSpec(
        name=_replica_name(fields),
        deployment=_text(fields, "deployment"),
        node=_text(fields, "node"),
        image=_text(fields, "image"),
        command=tuple(_text_list(fields.get("command", []), "data.command")),
        env=MappingProxyType(_text_map(fields.get("env", {}), "data.env")),
        resources=Resources(
            cpu_millis=_count(resources, "cpu_millis", "data.resources"),
            memory_mib=_count(resources, "memory_mib", "data.resources"),
        ),
        ports=ports,
        readiness=_probe(fields, "readiness", ports),
        liveness=_probe(fields, "liveness", ports),
        startup=_probe(fields, "startup", ports),
    )


def _probe(fields: Mapping[str, object], key: str, ports: tuple[AssignedPort, ...]) -> Probe | None:
    value = fields.get(key)
    if value is None:
        return None
    try:
        probe = probe_from_data(value, key)
    except ProbeError as error:
        raise InvalidEvent(f"data.{error}") from None
    if probe.action != "exec" and probe.port not in {port.name for port in ports}:
        names = ", ".join(port.name for port in ports) or "none"
        raise InvalidEvent(
            f"data.{key}.port {probe.port!r} is not one of the replica's ports ({names})"
        )
    return probe


def _listed(data: object) -> list[Mapping[str, object]]:
    listed = _object(data, "data").get("replicas")
    if not isinstance(listed, list) or not listed:
        raise InvalidEvent(f"data.replicas must be a non-empty list, not {listed!r:.80}")
    return [_object(entry, f"data.replicas[{index}]") for index, entry in enumerate(listed)]


def _object(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"{path} must be a JSON object, not {value!r:.80}")
    return value


def _text(fields: Mapping[str, object], key: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"data.{key} must be a non-empty string, not {value!r:.80}")
    return value


def _replica_name(fields: Mapping[str, object]) -> str:
    name = _text(fields, "replica")
    if not _REPLICA_NAME.fullmatch(name):
        raise InvalidEvent(
            f"data.replica {name!r} is not a DNS-1123 subdomain (lowercase letters, digits, "
            "'-' and '.', starting and ending with a letter or digit)"
        )
    return name


def _count(fields: Mapping[str, object], key: str, path: str) -> int:
    value = fields.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidEvent(f"{path}.{key} must be a whole number >= 0, not {value!r:.80}")
    return value


def _text_list(value: object, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidEvent(f"{path} must be a list of strings, not {value!r:.80}")
    return value


def _text_map(value: object, path: str) -> dict[str, str]:
    items = _object(value, path)
    if not all(isinstance(item, str) for item in items.values()):
        raise InvalidEvent(f"{path} must map names to strings, not {value!r:.80}")
    return {key: str(item) for key, item in items.items()}


def _ports(value: object) -> list[AssignedPort]:
    ports: list[AssignedPort] = []
    if not isinstance(value, list):
        raise InvalidEvent(f"data.ports must be a list of {{name, port}}, not {value!r:.80}")
    for index, item in enumerate(value):
        path = f"data.ports[{index}]"
        fields = _object(item, path)
        name, port = fields.get("name"), fields.get("port")
        if not isinstance(name, str) or not name:
            raise InvalidEvent(f"{path}.name must be a non-empty string, not {name!r:.80}")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise InvalidEvent(f"{path}.port must be a TCP port (1-65535), not {port!r:.80}")
        ports.append(AssignedPort(name, port))
    return ports
