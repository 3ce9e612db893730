"""Probes: what a Deployment's `readinessProbe` and `livenessProbe` say, and how results become
readiness (or, for liveness, a replica to restart).

Field names, defaults and minimums follow the Kubernetes Probe
(https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#configure-probes):
`initialDelaySeconds` 0, `periodSeconds` 10 (at least 1), `timeoutSeconds` 1 (at least 1),
`successThreshold` 1 and `failureThreshold` 3 (each at least 1). An `httpGet` succeeds on a
status of at least 200 and below 400; a `tcpSocket` succeeds when the connection opens. A
replica is not ready until `successThreshold` probes in a row succeed, and stops being ready
after `failureThreshold` failures in a row. A liveness probe (its `successThreshold` is always
1) finds a replica dead after `failureThreshold` failures in a row; the agent then kills it and
reports it exited, and it is restarted as after a crash. A startup probe (also
`successThreshold` 1) holds the other two back until it passes once, and kills the replica
the same way when it fails `failureThreshold` times in a row first.

An `exec` probe runs `command` in the replica's context (the agent's driver says how) and
succeeds when it exits 0 within `timeoutSeconds`.

Where Shoal differs: a replica's host ports are assigned by the scheduler, so `port` names one
of `spec.ports` (Kubernetes also takes a number).

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
    "parse_liveness_probe",
    "parse_readiness_probe",
    "parse_startup_probe",
    "probe_from_data",
]

Action = Literal["http", "tcp", "exec"]
_SETTINGS = (
    # (spec key, data key, default, minimum)
    ("initialDelaySeconds", "initial_delay_seconds", 0, 0),
    ("periodSeconds", "period_seconds", 10, 1),
    ("timeoutSeconds", "timeout_seconds", 1, 1),
    ("successThreshold", "success_threshold", 1, 1),
    ("failureThreshold", "failure_threshold", 3, 1),
)
_READINESS_PATH = "spec.readinessProbe"
_LIVENESS_PATH = "spec.livenessProbe"
_STARTUP_PATH = "spec.startupProbe"
_EXAMPLES = {
    "httpGet": "{path: /healthz, port: http}",
    "tcpSocket": "{port: http}",
    "exec": "{command: [pg_isready, -h, 127.0.0.1]}",
}


class ProbeData(TypedDict):
    """A probe as events carry it: `action` "http" (with `path`) or "tcp" on the named `port`,
    or "exec" with its `command`."""

    action: Action
    port: NotRequired[str]
    path: NotRequired[str]
    command: NotRequired[list[str]]
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
    port: str = ""
    """The name of one of the template's ports (http and tcp)."""
    path: str = "/"
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    command: tuple[str, ...] = ()
    """What an exec probe runs (exec only)."""

    def to_data(self) -> ProbeData:
        data: ProbeData = {
            "action": self.action,
            "initial_delay_seconds": self.initial_delay_seconds,
            "period_seconds": self.period_seconds,
            "timeout_seconds": self.timeout_seconds,
            "success_threshold": self.success_threshold,
            "failure_threshold": self.failure_threshold,
        }
        if self.action == "exec":
            data["command"] = list(self.command)
            return data
        data["port"] = self.port
        if self.action == "http":
            data["path"] = self.path
        return data


def parse_readiness_probe(reader: Reader, value: object, ports: Collection[str]) -> Probe | None:
    """`spec.readinessProbe` of a Deployment (None when absent); problems go to `reader`."""
    return _parse_probe(reader, value, ports, _READINESS_PATH)


def parse_liveness_probe(reader: Reader, value: object, ports: Collection[str]) -> Probe | None:
    """`spec.livenessProbe` (None when absent): as a readiness probe, but `successThreshold`
    can only be 1, as Kubernetes validates it (one pass shows the replica alive)."""
    return _parse_single_pass_probe(reader, value, ports, _LIVENESS_PATH, "liveness")


def parse_startup_probe(reader: Reader, value: object, ports: Collection[str]) -> Probe | None:
    """`spec.startupProbe` (None when absent): `successThreshold` can only be 1 here too."""
    return _parse_single_pass_probe(reader, value, ports, _STARTUP_PATH, "startup")


def _parse_single_pass_probe(
    reader: Reader, value: object, ports: Collection[str], path: str, kind: str
) -> Probe | None:
    probe = _parse_probe(reader, value, ports, path)
    if probe is not None and probe.success_threshold != 1:
        reader.problem(
            f"{path}.successThreshold",
            f"is {probe.success_threshold}; a {kind} probe's must be 1: drop it",
        )
    return probe


def _parse_probe(reader: Reader, value: object, ports: Collection[str], path: str) -> Probe | None:
    if value is None:
        return None
    allowed = {"httpGet", "tcpSocket", "exec", *(key for key, _, _, _ in _SETTINGS)}
    fields = reader.fields(value, path, allowed)
    if not isinstance(value, Mapping):
        return None  # one problem said so; the rest would only repeat it
    settings = {
        data_key: reader.integer(fields, key, path, default=default, minimum=minimum)
        for key, data_key, default, minimum in _SETTINGS
    }
    actions = [key for key in ("httpGet", "tcpSocket", "exec") if key in fields]
    if len(actions) != 1:
        found = " and ".join(actions) or "none"
        reader.problem(
            path,
            f"needs exactly one of httpGet, tcpSocket and exec, found {found}; write e.g. "
            f"{path.rsplit('.', 1)[-1]}: {{httpGet: {{path: /healthz, port: http}}}}",
        )
        return None
    where = f"{path}.{actions[0]}"
    if fields[actions[0]] is not None and not isinstance(fields[actions[0]], Mapping):
        example = _EXAMPLES[actions[0]]
        reader.problem(where, f"is {fields[actions[0]]!r}; write e.g. {actions[0]}: {example}")
        return None
    if actions == ["exec"]:
        return _exec_probe(reader, fields["exec"], where, settings)
    if actions == ["httpGet"]:
        return _http_probe(reader, fields["httpGet"], where, settings, ports)
    port = _port(reader, reader.fields(fields["tcpSocket"], where, {"port"}), where, ports)
    return _probe("tcp", settings, port=port)


def _exec_probe(reader: Reader, value: object, where: str, settings: Mapping[str, int]) -> Probe:
    action = reader.fields(value, where, {"command"})
    command = reader.string_list(action.get("command", []), f"{where}.command")
    if not command and not reader.has_problem(f"{where}.command"):
        reader.problem(
            f"{where}.command",
            "needs the command to run; write e.g. command: [pg_isready, -h, 127.0.0.1]",
        )
    return _probe("exec", settings, command=command)


def _http_probe(
    reader: Reader,
    value: object,
    where: str,
    settings: Mapping[str, int],
    ports: Collection[str],
) -> Probe:
    action = reader.fields(value, where, {"path", "port", "scheme"})
    path = action.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or _has_space(path):
        reader.problem(f"{where}.path", f"is {path!r}; write an absolute path like /healthz")
        path = "/"
    scheme = action.get("scheme", "HTTP")
    if scheme != "HTTP":
        reader.problem(f"{where}.scheme", f"is {scheme!r}; only HTTP is supported: drop it")
    return _probe("http", settings, port=_port(reader, action, where, ports), path=path)


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


def _probe(
    action: Action,
    settings: Mapping[str, int],
    *,
    port: str = "",
    path: str = "/",
    command: tuple[str, ...] = (),
) -> Probe:
    return Probe(
        action,
        port,
        path,
        initial_delay_seconds=settings["initial_delay_seconds"],
        period_seconds=settings["period_seconds"],
        timeout_seconds=settings["timeout_seconds"],
        success_threshold=settings["success_threshold"],
        failure_threshold=settings["failure_threshold"],
        command=command,
    )


def _has_space(text: str) -> bool:
    return any(character.isspace() for character in text)


def probe_from_data(data: object, field: str = "readiness") -> Probe:
    """The probe of an event (what `Probe.to_data` gave), its `field` (readiness or liveness);
    ProbeError naming the bad field."""
    if not isinstance(data, Mapping):
        raise ProbeError(f"{field} must be a JSON object, not {data!r:.80}")
    action = data.get("action")
    if action not in ("http", "tcp", "exec"):
        raise ProbeError(f"{field}.action must be 'http', 'tcp' or 'exec', not {action!r:.80}")
    settings: dict[str, int] = {}
    for _, key, default, minimum in _SETTINGS:
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ProbeError(f"{field}.{key} must be a whole number >= {minimum}, not {value!r}")
        settings[key] = value
    if action == "exec":
        command = data.get("command")
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(part, str) for part in command)
        ):
            raise ProbeError(
                f"{field}.command must be a non-empty list of strings, not {command!r:.80}"
            )
        return _probe("exec", settings, command=tuple(command))
    port = data.get("port")
    if not isinstance(port, str) or not port:
        raise ProbeError(f"{field}.port must name a port, not {port!r:.80}")
    path = data.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or _has_space(path):
        raise ProbeError(f"{field}.path must be an absolute path, not {path!r:.80}")
    return _probe("http" if action == "http" else "tcp", settings, port=port, path=path)


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
