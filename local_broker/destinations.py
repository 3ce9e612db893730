"""Knative Destinations (`spec.subscriber`, `deadLetterSink`, a PingSource's `sink`) and their URLs.

Knative control-plane spec, "Destination Resolution" and "duckv1.Destination": a destination is an
absolute `uri`, or a `ref` to an addressable object, or both, in which case `uri` is resolved
relative to the object's address (RFC 3986, section 5.2: `/update` against `http://svc` gives
`http://svc/update`, and `update` against `http://svc/fn` gives `http://svc/update`).

On Knative a `ref` resolves through the cluster (a Service's DNS name, an Addressable's
`status.address.url`). Locally there is no cluster, so refs resolve through Addresses: the
`services` that the command line fills (`--service NAME=URL`, looked up as `NAMESPACE/NAME`
first, then as plain `NAME`, whatever the ref's kind), then, for a ref to an
`eventing.knative.dev` Broker, the ingress URLs of the Brokers the broker serves itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

_WEB_SCHEMES = ("http", "https")


class DestinationError(ValueError):
    """A destination that is malformed or cannot be resolved; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class ObjectReference:
    """Knative KReference: the object a destination points at."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Addresses:
    """Where refs lead locally: `services` by name, `brokers` by (namespace, name)."""

    services: Mapping[str, str]
    brokers: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def lookup(self, ref: ObjectReference, namespace: str) -> str | None:
        explicit = self.services.get(f"{namespace}/{ref.name}", self.services.get(ref.name))
        if explicit is not None or ref.kind != "Broker":
            return explicit
        if ref.api_version.partition("/")[0] != "eventing.knative.dev":
            return None
        return self.brokers.get((namespace, ref.name))


@dataclass(frozen=True, slots=True)
class Destination:
    """A parsed, not yet resolved, destination: `ref`, `uri` or both (never neither)."""

    ref: ObjectReference | None = None
    uri: str | None = None

    def resolve(self, addresses: Addresses, namespace: str) -> str:
        """The absolute URL to POST to. `namespace` is the referring object's own namespace,
        which a ref without one defaults to (Knative control-plane spec, "KReference")."""
        if self.ref is None:
            assert self.uri is not None  # parse_destination guarantees one of them
            return self.uri
        ref_namespace = self.ref.namespace or namespace
        base = addresses.lookup(self.ref, ref_namespace)
        if base is None:
            raise DestinationError(
                f"ref to {self.ref.kind} {ref_namespace}/{self.ref.name} cannot be resolved "
                f"locally: pass --service {self.ref.name}=URL (the URL where it listens)"
            )
        if not _is_absolute_web_url(base):
            raise DestinationError(
                f"the URL of {self.ref.kind} {self.ref.name}, {base!r}, is not an absolute "
                "http:// or https:// URL (check --service)"
            )
        if self.uri is None:
            return base
        return urljoin(base, self.uri)


def parse_destination(value: object) -> Destination:
    """A Destination from its YAML form; raises DestinationError for a malformed one."""
    if not isinstance(value, Mapping):
        raise DestinationError("must be a mapping with `ref` and/or `uri`")
    ref_value = value.get("ref")
    uri = value.get("uri")
    if uri is not None and (not isinstance(uri, str) or not uri):
        raise DestinationError("uri must be a non-empty string")
    ref = None if ref_value is None else _parse_reference(ref_value)
    if ref is None and uri is None:
        raise DestinationError("needs a `uri` (an absolute URL) or a `ref` (and optionally a uri)")
    if ref is None and not _is_absolute_web_url(str(uri)):
        raise DestinationError(
            f"uri {uri!r} must be an absolute http:// or https:// URL; "
            "a relative uri needs a `ref` to resolve against"
        )
    return Destination(ref, uri if isinstance(uri, str) else None)


def _parse_reference(value: object) -> ObjectReference:
    if not isinstance(value, Mapping):
        raise DestinationError("ref must be a mapping with apiVersion, kind and name")
    fields: dict[str, str] = {}
    for key in ("apiVersion", "kind", "name"):
        field = value.get(key)
        if not isinstance(field, str) or not field:
            raise DestinationError(f"ref.{key} is required (a non-empty string)")
        fields[key] = field
    namespace = value.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise DestinationError("ref.namespace must be a string")
    return ObjectReference(fields["apiVersion"], fields["kind"], fields["name"], namespace or None)


def _is_absolute_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in _WEB_SCHEMES and bool(parts.netloc)
