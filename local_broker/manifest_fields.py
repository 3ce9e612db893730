"""Reading manifest documents: typed access to parsed YAML, with errors naming the field.

A manifest is untyped YAML; these helpers check each value's shape as they read it and raise a
ManifestError whose reason starts with the field's path (`spec.delivery: must be a mapping`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local_broker.destinations import Addresses, Destination, DestinationError, parse_destination

DEFAULT_NAMESPACE = "default"
# Kubernetes object names: DNS-1123 subdomains; namespaces: DNS-1123 labels. They also keep
# names safe to use in file paths.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

Document = Mapping[str, object]


class ManifestError(ValueError):
    """A manifest that cannot be loaded: which file, which resource, what is wrong."""

    def __init__(self, reason: str, *, file: Path | None = None, resource: str | None = None):
        self.reason = reason
        self.file = file
        self.resource = resource
        super().__init__(": ".join(str(part) for part in (file, resource, reason) if part))

    def located(self, file: Path | None, resource: str | None = None) -> ManifestError:
        """The same error, with its file and resource (where it did not name them yet)."""
        return ManifestError(
            self.reason, file=self.file or file, resource=self.resource or resource
        )


@dataclass(frozen=True, slots=True)
class Metadata:
    namespace: str
    name: str
    annotations: Mapping[str, object]


def read_metadata(document: Document) -> Metadata:
    metadata = mapping_field(document.get("metadata"), "metadata", required=True)
    name = string_field(metadata.get("name"), "metadata.name")
    if name is None:
        raise ManifestError("metadata.name is required")
    if len(name) > 253 or not _NAME.fullmatch(name):
        raise ManifestError(
            f"metadata.name {name!r} is not a valid name (lower-case letters, digits, '-', '.')"
        )
    namespace = string_field(metadata.get("namespace"), "metadata.namespace") or DEFAULT_NAMESPACE
    if len(namespace) > 63 or not _NAMESPACE.fullmatch(namespace):
        raise ManifestError(
            f"metadata.namespace {namespace!r} is not valid (lower-case letters, digits, '-')"
        )
    annotations = mapping_field(metadata.get("annotations"), "metadata.annotations")
    return Metadata(namespace, name, annotations)


def spec_of(document: Document) -> Mapping[str, object]:
    return mapping_field(document.get("spec"), "spec", required=True)


def mapping_field(value: object, field: str, *, required: bool = False) -> Mapping[str, object]:
    """A YAML mapping with string keys; a missing optional one is empty."""
    if value is None:
        if required:
            raise ManifestError(f"{field} is required")
        return {}
    if not isinstance(value, Mapping):
        raise ManifestError(f"{field} must be a mapping, not {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ManifestError(f"{field}: key {key!r} must be a string; quote it in YAML")
    return value


def list_field(value: object, field: str) -> list[object] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ManifestError(f"{field} must be a list, not {type(value).__name__}")
    return value


def string_field(value: object, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ManifestError(f"{field} must be a string, not {value!r}; quote it in YAML")


def destination_field(value: object, where: str) -> Destination:
    if value is None:
        raise ManifestError(f"{where} is required (a `uri`, or a `ref` to a Service)")
    try:
        return parse_destination(value)
    except DestinationError as error:
        raise ManifestError(f"{where}: {error}") from error


def resolve_destination(
    destination: Destination, where: str, addresses: Addresses, namespace: str
) -> str:
    try:
        return destination.resolve(addresses, namespace)
    except DestinationError as error:
        raise ManifestError(f"{where}: {error}") from error
