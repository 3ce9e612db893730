"""A Deployment's probes as the user writes them: `readinessProbe`, `livenessProbe` and
`startupProbe` read into `Probe`s, with every problem reported with its field and the fix
(`shoal.orchestration.probes` has the rules and the wire form)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from shoal.orchestration.fields import Reader
from shoal.orchestration.probes import SETTINGS, Probe, has_space, probe_with_settings

__all__ = ["parse_liveness_probe", "parse_readiness_probe", "parse_startup_probe"]

_READINESS_PATH = "spec.readinessProbe"
_LIVENESS_PATH = "spec.livenessProbe"
_STARTUP_PATH = "spec.startupProbe"
_EXAMPLES = {
    "httpGet": "{path: /healthz, port: http}",
    "tcpSocket": "{port: http}",
    "exec": "{command: [pg_isready, -h, 127.0.0.1]}",
}


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
    allowed = {"httpGet", "tcpSocket", "exec", *(key for key, _, _, _ in SETTINGS)}
    fields = reader.fields(value, path, allowed)
    if not isinstance(value, Mapping):
        return None  # one problem said so; the rest would only repeat it
    settings = {
        data_key: reader.integer(fields, key, path, default=default, minimum=minimum)
        for key, data_key, default, minimum in SETTINGS
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
    return probe_with_settings("tcp", settings, port=port)


def _exec_probe(reader: Reader, value: object, where: str, settings: Mapping[str, int]) -> Probe:
    action = reader.fields(value, where, {"command"})
    command = reader.string_list(action.get("command", []), f"{where}.command")
    if not command and not reader.has_problem(f"{where}.command"):
        reader.problem(
            f"{where}.command",
            "needs the command to run; write e.g. command: [pg_isready, -h, 127.0.0.1]",
        )
    return probe_with_settings("exec", settings, command=command)


def _http_probe(
    reader: Reader,
    value: object,
    where: str,
    settings: Mapping[str, int],
    ports: Collection[str],
) -> Probe:
    action = reader.fields(value, where, {"path", "port", "scheme"})
    path = action.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or has_space(path):
        reader.problem(f"{where}.path", f"is {path!r}; write an absolute path like /healthz")
        path = "/"
    scheme = action.get("scheme", "HTTP")
    if scheme != "HTTP":
        reader.problem(f"{where}.scheme", f"is {scheme!r}; only HTTP is supported: drop it")
    return probe_with_settings(
        "http", settings, port=_port(reader, action, where, ports), path=path
    )


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
