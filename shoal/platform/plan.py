"""What Knative would run, as local processes: the Services and the SinkBinding of a manifests
folder turned into commands and environments.

A Service's container runs its `command` + `args` with its `env`, plus what Knative adds: `PORT`
(the port to listen on) and `K_SINK` (the SinkBinding's sink). Here `HOST=127.0.0.1` keeps the
process on the loopback interface, and the interpreter's own bin folder leads `PATH`, so
`functions-framework` is the one installed next to this Shoal, as it is in the image.
Environment values taken from Secrets (`valueFrom.secretKeyRef`) come from `secrets`, keyed by
(secret name, key): locally there is no cluster to hold them.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from shoal.platform.ports import free_port

SERVICE_API = "serving.knative.dev/v1"
SOURCES_API = "sources.knative.dev/v1"
DEFAULT_NAMESPACE = "default"
SecretKey = tuple[str, str]


class PlanError(ValueError):
    """A manifest that cannot be run locally; the message names the file and what to fix."""


@dataclass(frozen=True, slots=True)
class ServiceProcess:
    """One Knative Service as a local command and environment (without PORT and K_SINK)."""

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str]

    def environment(self, port: int, sink: str) -> dict[str, str]:
        """The complete environment of its process, as Knative plus the SinkBinding set it."""
        path = os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))
        return {
            **os.environ,
            "PATH": path,
            "HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            # The local broker takes batched-mode posts (Knative's ingress does not, so the
            # manifests leave this off); a manifest's own setting still wins.
            "SHOAL_SINK_BATCH": "1",
            **self.env,
            "PORT": str(port),
            "K_SINK": sink,
        }


def _documents(folder: Path) -> Iterator[tuple[Path, Mapping[str, object]]]:
    for path in sorted(folder.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, Mapping):
                yield path, document


def _get(value: object, *keys: str | int) -> object:
    for key in keys:
        if isinstance(value, Mapping) and isinstance(key, str):
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return None
    return value


def services(folder: Path, secrets: Mapping[SecretKey, str]) -> list[ServiceProcess]:
    """Every Knative Service in `folder`, sorted by name."""
    found: list[ServiceProcess] = []
    for path, document in _documents(folder):
        if (document.get("apiVersion"), document.get("kind")) != (SERVICE_API, "Service"):
            continue
        name = str(_get(document, "metadata", "name"))
        container = _get(document, "spec", "template", "spec", "containers", 0)
        command = _get(container, "command")
        if not isinstance(command, list) or not command:
            raise PlanError(f"{path}: Service {name} has no container command to run locally")
        args = _get(container, "args") or []
        env_list = _get(container, "env") or []
        if not isinstance(args, list) or not isinstance(env_list, list):
            raise PlanError(f"{path}: Service {name}: args and env must be lists")
        env = dict(_env_entry(entry, secrets, f"{path}: Service {name}") for entry in env_list)
        found.append(ServiceProcess(name, tuple(map(str, [*command, *args])), env))
    return sorted(found, key=lambda service: service.name)


def _env_entry(entry: object, secrets: Mapping[SecretKey, str], where: str) -> tuple[str, str]:
    name = _get(entry, "name")
    value = _get(entry, "value")
    if isinstance(name, str) and isinstance(value, str):
        return name, value
    secret, key = (
        _get(entry, "valueFrom", "secretKeyRef", "name"),
        _get(entry, "valueFrom", "secretKeyRef", "key"),
    )
    if isinstance(name, str) and isinstance(secret, str) and isinstance(key, str):
        if (secret, key) not in secrets:
            raise PlanError(f"{where}: env {name} needs key {key!r} of the Secret {secret!r}")
        return name, secrets[(secret, key)]
    raise PlanError(f"{where}: env entry {entry!r} needs a name and a value or a secretKeyRef")


def sink_broker(folder: Path) -> tuple[str, str]:
    """(namespace, name) of the Broker the functions' SinkBinding points at."""
    for path, document in _documents(folder):
        if (document.get("apiVersion"), document.get("kind")) != (SOURCES_API, "SinkBinding"):
            continue
        ref = _get(document, "spec", "sink", "ref")
        if _get(ref, "kind") != "Broker" or not isinstance(_get(ref, "name"), str):
            raise PlanError(f"{path}: the SinkBinding's sink must be a ref to a Broker")
        namespace = _get(ref, "namespace") or _get(document, "metadata", "namespace")
        return str(namespace or DEFAULT_NAMESPACE), str(_get(ref, "name"))
    raise PlanError(f"{folder}: no SinkBinding gives the functions a K_SINK; run `shoal manifests`")


def port_or_free(port: int, what: str) -> int:
    """`port` if nothing listens on it on 127.0.0.1 now, any free port for 0; else PlanError."""
    if port == 0:
        return free_port()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise PlanError(f"cannot use port {port} for {what}: {error.strerror}") from None
    return port
