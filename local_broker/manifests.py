"""Loading the broker's configuration from Knative manifests: `load_manifests(paths, services)`.

Paths are YAML files or folders (searched recursively for `*.yaml` and `*.yml`, in name order);
a file may hold several documents. Recognised kinds: `eventing.knative.dev/v1` Broker and
Trigger, `sources.knative.dev/v1` PingSource. Other kinds (Service, SinkBinding, ConfigMap,
Kustomization, ...) are skipped silently, and so are files named `kustomization.yaml`; another
version of a recognised kind is an error, since skipping it would lose a Trigger unnoticed.
Point the broker at a kustomize base rather than at a folder of patches: a patch is a partial
resource and does not load.

A resource without `metadata.namespace` is in namespace `default`. When the manifests hold no
Broker, a Broker `default/default` with default delivery exists, so Triggers can be tried alone.
Every error is a ManifestError naming the file, the resource and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from local_broker.cesql import CesqlError
from local_broker.delivery_spec import DEFAULT_DELIVERY, DeliverySpec
from local_broker.destinations import Addresses
from local_broker.documents import (
    parse_broker,
    parse_ping_source,
    parse_trigger,
    validate_trigger_document,
)
from local_broker.manifest_fields import DEFAULT_NAMESPACE, ManifestError, read_metadata
from local_broker.resources import Broker, BrokerConfig, BrokerKey, PingSource, Trigger

__all__ = [
    "DEFAULT_DELIVERY",
    "Broker",
    "BrokerConfig",
    "CesqlErrorReporter",
    "DeliverySpec",
    "Documents",
    "ManifestError",
    "PingSource",
    "Trigger",
    "build_config",
    "load_manifests",
    "read_documents",
    "validate_trigger_document",
]

# The documents of the manifests, each with the file it is in (`read_documents`).
Documents = tuple[tuple[Path, Mapping[str, object]], ...]
# Called with the Trigger's key and the error when its CESQL filter fails on an event.
CesqlErrorReporter = Callable[[str, CesqlError], None]

DEFAULT_BROKER: BrokerKey = (DEFAULT_NAMESPACE, "default")
_YAML_SUFFIXES = (".yaml", ".yml")
# libyaml's C loader where PyYAML was built with it: ~10x faster for a thousand Triggers.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# The kinds this broker loads, and the one apiVersion of each that it reads.
_KINDS = {
    "Broker": "eventing.knative.dev/v1",
    "Trigger": "eventing.knative.dev/v1",
    "PingSource": "sources.knative.dev/v1",
}


def load_manifests(
    paths: Sequence[Path],
    services: Mapping[str, str],
    *,
    broker_url: Callable[[str, str], str] | None = None,
    on_cesql_error: CesqlErrorReporter | None = None,
) -> BrokerConfig:
    """Load, validate and resolve the Brokers, Triggers and PingSources found under `paths`.

    `services` maps `NAME` or `NAMESPACE/NAME` to a base URL, for destinations given as a `ref`
    (see local_broker.destinations). `broker_url(namespace, name)` gives the ingress URL of a
    Broker in these manifests, for refs to it that `services` does not name (a PingSource whose
    sink is the Broker). `on_cesql_error` hears of CESQL filters failing on events later on.
    Raises ManifestError.
    """
    return build_config(
        read_documents(paths), services, broker_url=broker_url, on_cesql_error=on_cesql_error
    )


def read_documents(paths: Sequence[Path]) -> Documents:
    """Every document of the YAML files under `paths`, with its file (plain data: it pickles,
    so another process can build the same configuration from it). Raises ManifestError."""
    return tuple(_documents(paths))


def build_config(
    documents: Documents,
    services: Mapping[str, str],
    *,
    broker_url: Callable[[str, str], str] | None = None,
    on_cesql_error: CesqlErrorReporter | None = None,
) -> BrokerConfig:
    """`load_manifests` of documents already read: the same documents give the same
    configuration. The result keeps `documents`."""
    found: dict[str, list[_Found]] = {"Broker": [], "Trigger": [], "PingSource": []}
    defined_in: dict[str, Path] = {}
    for file, document in documents:
        kind = _recognised_kind(document, file)
        if kind is None:
            continue
        try:
            metadata = read_metadata(document)
        except ManifestError as error:
            raise error.located(file, kind) from error
        resource = f"{kind} {metadata.namespace}/{metadata.name}"
        if resource in defined_in:
            raise ManifestError(
                f"also defined in {defined_in[resource]}; names are unique per kind and "
                "namespace (a kustomize patch? point the broker at the base folder)",
                file=file,
                resource=resource,
            )
        defined_in[resource] = file
        found[kind].append(_Found(file, resource, metadata.namespace, metadata.name, document))

    broker_keys = [(item.namespace, item.name) for item in found["Broker"]] or [DEFAULT_BROKER]
    addresses = Addresses(
        services, {key: broker_url(*key) for key in broker_keys} if broker_url else {}
    )
    brokers: dict[BrokerKey, Broker] = {}
    for item in found["Broker"]:
        with item.errors_located():
            broker = parse_broker(item.document, addresses)
        brokers[broker.key] = broker
    if not brokers:
        brokers[DEFAULT_BROKER] = Broker(*DEFAULT_BROKER, DEFAULT_DELIVERY)
    triggers: list[Trigger] = []
    for item in found["Trigger"]:
        with item.errors_located():
            triggers.append(
                parse_trigger(
                    item.document,
                    brokers=brokers,
                    addresses=addresses,
                    source_file=item.file,
                    on_cesql_error=_reporter(on_cesql_error, f"{item.namespace}/{item.name}"),
                )
            )
    ping_sources: list[PingSource] = []
    for item in found["PingSource"]:
        with item.errors_located():
            ping_sources.append(parse_ping_source(item.document, addresses))
    return BrokerConfig(brokers, triggers, ping_sources, documents)


@dataclass(frozen=True, slots=True)
class _Found:
    """A recognised document, and where it came from."""

    file: Path
    resource: str
    namespace: str
    name: str
    document: Mapping[str, object]

    @contextmanager
    def errors_located(self) -> Iterator[None]:
        try:
            yield
        except ManifestError as error:
            raise error.located(self.file, self.resource) from error


def _reporter(
    report: CesqlErrorReporter | None, trigger_key: str
) -> Callable[[CesqlError], None] | None:
    if report is None:
        return None
    return lambda error: report(trigger_key, error)


def _documents(paths: Sequence[Path]) -> Iterator[tuple[Path, Mapping[str, object]]]:
    for path in paths:
        if path.is_dir():
            files = sorted(
                file
                for file in path.rglob("*")
                if file.suffix in _YAML_SUFFIXES
                and file.name not in _KUSTOMIZATION_FILES
                and file.is_file()
            )
        elif path.is_file():
            files = [] if path.name in _KUSTOMIZATION_FILES else [path]
        else:
            raise ManifestError("no such file or folder", file=path)
        for file in files:
            yield from _read(file)


def _read(file: Path) -> Iterator[tuple[Path, Mapping[str, object]]]:
    try:
        documents = list(yaml.load_all(file.read_text(encoding="utf-8"), Loader=_SAFE_LOADER))
    except OSError as error:
        raise ManifestError(f"cannot read it: {error.strerror or error}", file=file) from error
    except UnicodeDecodeError as error:
        raise ManifestError("is not UTF-8 text", file=file) from error
    except yaml.YAMLError as error:
        raise ManifestError(f"invalid YAML: {_describe_yaml_error(error)}", file=file) from error
    while documents:
        document = documents.pop(0)
        if document is None:
            continue
        if not isinstance(document, Mapping):
            raise ManifestError(
                "holds a document that is not a resource (a mapping with apiVersion and kind)",
                file=file,
            )
        if document.get("kind") == "List" and isinstance(document.get("items"), list):
            # kubectl's List: its items are resources like any others.
            documents[:0] = document["items"]
        else:
            yield file, document


def _recognised_kind(document: Mapping[str, object], file: Path) -> str | None:
    """The kind of a document this broker loads, or None for a kind it skips."""
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        raise ManifestError(
            "a document lacks apiVersion or kind; every resource needs both", file=file
        )
    wanted = _KINDS.get(kind)
    if wanted is None:
        return None
    group = api_version.partition("/")[0]
    if api_version == wanted:
        return kind
    if group == wanted.partition("/")[0]:
        raise ManifestError(
            f"{kind} {api_version} is not supported; write apiVersion: {wanted}", file=file
        )
    return None


def _describe_yaml_error(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return str(problem)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
