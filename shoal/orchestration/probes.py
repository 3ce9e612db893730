"""Probes: what a Deployment's `readinessProbe`, `livenessProbe` and `startupProbe` say, and how
results become readiness (or, for liveness and startup, a replica to restart).

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
(snake_case keys), and the agent reads it back with `probe_from_data`. `probe_spec` reads
them from a Deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict, cast

__all__ = [
    "PROBE_KINDS",
    "Probe",
    "ProbeData",
    "ProbeError",
    "ProbesData",
    "Readiness",
    "probe_from_data",
    "probe_with_settings",
    "probes_data",
    "probes_in",
]

Action = Literal["http", "tcp", "exec"]
SETTINGS = (
    # (spec key, data key, default, minimum)
    ("initialDelaySeconds", "initial_delay_seconds", 0, 0),
    ("periodSeconds", "period_seconds", 10, 1),
    ("timeoutSeconds", "timeout_seconds", 1, 1),
    ("successThreshold", "success_threshold", 1, 1),
    ("failureThreshold", "failure_threshold", 3, 1),
)
PROBE_KINDS = ("readiness", "liveness", "startup")


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


class ProbesData(TypedDict, total=False):
    """A pod template's probes as events carry them (`replica.requested`'s template and each
    entry of `replica.scheduled`), each key present only when the template has that probe."""

    readiness: ProbeData
    """The agent probes the replica and reports `replica.ready` and `replica.unready`; without
    one (and without `startup`) the replica is ready once started."""
    liveness: ProbeData
    """Failing it `failure_threshold` times in a row, the replica is killed and reported
    `replica.exited` (code 137, the reason naming the probe)."""
    startup: ProbeData
    """Probed first: the other probes start once it passes, and failing it first kills the
    replica as a failed liveness probe does."""


def probes_data(
    readiness: Probe | None, liveness: Probe | None, startup: Probe | None
) -> ProbesData:
    """The probes that are there, in their wire form."""
    data: ProbesData = {}
    if readiness is not None:
        data["readiness"] = readiness.to_data()
    if liveness is not None:
        data["liveness"] = liveness.to_data()
    if startup is not None:
        data["startup"] = startup.to_data()
    return data


def probes_in(data: Mapping[str, object]) -> ProbesData:
    """The probes a template or an entry carries, passed on as they are."""
    return cast(ProbesData, {kind: data[kind] for kind in PROBE_KINDS if kind in data})


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


def probe_with_settings(
    action: Action,
    settings: Mapping[str, int],
    *,
    port: str = "",
    path: str = "/",
    command: tuple[str, ...] = (),
) -> Probe:
    """A probe with `settings` (keyed by their wire names: `initial_delay_seconds`, ...)."""
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


def has_space(text: str) -> bool:
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
    for _, key, default, minimum in SETTINGS:
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
        return probe_with_settings("exec", settings, command=tuple(command))
    port = data.get("port")
    if not isinstance(port, str) or not port:
        raise ProbeError(f"{field}.port must name a port, not {port!r:.80}")
    path = data.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or has_space(path):
        raise ProbeError(f"{field}.path must be an absolute path, not {path!r:.80}")
    return probe_with_settings(
        "http" if action == "http" else "tcp", settings, port=port, path=path
    )


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
