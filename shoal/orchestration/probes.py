"""Readiness probes: what a Deployment's `readinessProbe` says, and how results become readiness.

Field names, defaults and minimums follow the Kubernetes Probe
(https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#configure-probes):
`initialDelaySeconds` 0, `periodSeconds` 10 (at least 1), `timeoutSeconds` 1 (at least 1),
`successThreshold` 1 and `failureThreshold` 3 (each at least 1). An `httpGet` succeeds on a
status of at least 200 and below 400; a `tcpSocket` succeeds when the connection opens. A
replica is not ready until `successThreshold` probes in a row succeed, and stops being ready
after `failureThreshold` failures in a row.

Where Shoal differs: a replica's host ports are assigned by the scheduler, so `port` names one
of `spec.ports` (Kubernetes also takes a number); `exec` probes are not supported yet.

The same probe travels in `replica.requested` and `replica.scheduled` as `to_data()` gives it
(snake_case keys), and the agent reads it back with `probe_from_data`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

from shoal.orchestration.fields import Reader

__all__ = [
    "Probe",
    "ProbeData",
    "ProbeError",
    "Readiness",
    "parse_readiness_probe",
    "probe_from_data",
]

Action = Literal["http", "tcp"]
_SETTINGS = (
    # (spec key, data key, default, minimum)
    ("initialDelaySeconds", "initial_delay_seconds", 0, 0),
    ("periodSeconds", "period_seconds", 10, 1),
    ("timeoutSeconds", "timeout_seconds", 1, 1),
    ("successThreshold", "success_threshold", 1, 1),
    ("failureThreshold", "failure_threshold", 3, 1),
)
_PATH = "spec.readinessProbe"


class ProbeData(TypedDict):
    """A probe as events carry it: `action` "http" (with `path`) or "tcp", on the named `port`."""

    action: Action
    port: str
    path: NotRequired[str]
    initial_delay_seconds: int
    period_seconds: int
    timeout_seconds: int
    success_threshold: int
    failure_threshold: int


class ProbeError(ValueError):
    """A probe in an event that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Probe:
    action: Action
    port: str
    """The name of one of the template's ports."""
    path: str = "/"
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    def to_data(self) -> ProbeData:
        data: ProbeData = {
            "action": self.action,
            "port": self.port,
            "initial_delay_seconds": self.initial_delay_seconds,
            "period_seconds": self.period_seconds,
            "timeout_seconds": self.timeout_seconds,
            "success_threshold": self.success_threshold,
            "failure_threshold": self.failure_threshold,
        }
        if self.action == "http":
            data["path"] = self.path
        return data


def parse_readiness_probe(reader: Reader, value: object, ports: Collection[str]) -> Probe | None:
    """`spec.readinessProbe` of a Deployment (None when absent); problems go to `reader`."""
    if value is None:
        return None
    allowed = {"httpGet", "tcpSocket", "exec", *(key for key, _, _, _ in _SETTINGS)}
    fields = reader.fields(value, _PATH, allowed)
    if not isinstance(value, Mapping):
        return None  # one problem said so; the rest would only repeat it
    settings = {
        data_key: reader.integer(fields, key, _PATH, default=default, minimum=minimum)
        for key, data_key, default, minimum in _SETTINGS
    }
    actions = [key for key in ("httpGet", "tcpSocket", "exec") if key in fields]
    if "exec" in actions:
        reader.problem(
            f"{_PATH}.exec",
            "exec probes are not supported yet; probe the replica's port instead, e.g. "
            "httpGet: {path: /healthz, port: http} or tcpSocket: {port: http}",
        )
        return None
    if len(actions) != 1:
        found = " and ".join(actions) or "neither"
        reader.problem(
            _PATH,
            f"needs exactly one of httpGet and tcpSocket, found {found}; write e.g. "
            "readinessProbe: {httpGet: {path: /healthz, port: http}}",
        )
        return None
    where = f"{_PATH}.{actions[0]}"
    if fields[actions[0]] is not None and not isinstance(fields[actions[0]], Mapping):
        example = "{path: /healthz, port: http}" if actions == ["httpGet"] else "{port: http}"
        reader.problem(where, f"is {fields[actions[0]]!r}; write e.g. {actions[0]}: {example}")
        return None
    if actions == ["httpGet"]:
        action = reader.fields(fields["httpGet"], where, {"path", "port", "scheme"})
        path = action.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/") or _has_space(path):
            reader.problem(f"{where}.path", f"is {path!r}; write an absolute path like /healthz")
            path = "/"
        scheme = action.get("scheme", "HTTP")
        if scheme != "HTTP":
            reader.problem(f"{where}.scheme", f"is {scheme!r}; only HTTP is supported: drop it")
        port = _port(reader, action, where, ports)
        return Probe("http", port, path, **settings)
    port = _port(reader, reader.fields(fields["tcpSocket"], where, {"port"}), where, ports)
    return Probe("tcp", port, "/", **settings)


def _port(reader: Reader, action: Mapping[str, object], where: str, ports: Collection[str]) -> str:
    port = action.get("port")
    names = ", ".join(sorted(ports))
    if not ports:
        reader.problem(
            f"{where}.port",
            "has no port to probe: the probe names one of spec.ports, and there are none; "
            "add e.g. ports: [{name: http}] and probe port: http",
        )
    elif port not in ports:
        given = "is required" if port is None else f"is {port!r}"
        reader.problem(
            f"{where}.port",
            f"{given}; write the name of one of spec.ports ({names}): Shoal assigns the host "
            "port, so a probe names the port rather than its number",
        )
    return port if isinstance(port, str) else ""


def _has_space(text: str) -> bool:
    return any(character.isspace() for character in text)


def probe_from_data(data: object) -> Probe:
    """The probe of an event (what `Probe.to_data` gave); ProbeError naming the bad field."""
    if not isinstance(data, Mapping):
        raise ProbeError(f"readiness must be a JSON object, not {data!r:.80}")
    action, port = data.get("action"), data.get("port")
    if action not in ("http", "tcp"):
        raise ProbeError(f"readiness.action must be 'http' or 'tcp', not {action!r:.80}")
    if not isinstance(port, str) or not port:
        raise ProbeError(f"readiness.port must name a port, not {port!r:.80}")
    path = data.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or _has_space(path):
        raise ProbeError(f"readiness.path must be an absolute path, not {path!r:.80}")
    settings: dict[str, int] = {}
    for _, key, default, minimum in _SETTINGS:
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ProbeError(f"readiness.{key} must be a whole number >= {minimum}, not {value!r}")
        settings[key] = value
    return Probe("http" if action == "http" else "tcp", port, path, **settings)


@dataclass(frozen=True)
class Readiness:
    """A replica's readiness as probe results come in (pure; the agent keeps one per replica).

    `observe(ok)` gives the next state; `changed` says whether `ready` just flipped, which is
    when the agent reports. A new replica starts not ready, as a Kubernetes container with a
    readiness probe does. `ready=None` is a replica whose readiness is not known here (an agent
    that restarted finds it running): the first verdict either way, `success_threshold` passes
    or `failure_threshold` failures in a row, counts as a flip.
    """

    ready: bool | None = False
    successes: int = 0
    failures: int = 0
    changed: bool = False

    def observe(self, ok: bool, probe: Probe) -> Readiness:
        ready: bool | None
        if ok:
            successes = self.successes + 1
            ready = True if successes >= probe.success_threshold else self.ready
            return Readiness(ready, successes, 0, ready != self.ready)
        failures = self.failures + 1
        ready = False if failures >= probe.failure_threshold else self.ready
        return Readiness(ready, 0, failures, ready != self.ready)
