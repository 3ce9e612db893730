"""What a rendered overlay needs from the cluster it goes to, read from its objects (pure).

- the Knative CRDs of its kinds (a Broker needs `brokers.eventing.knative.dev`, ...);
- the data plane of each Broker class it names (annotation `eventing.knative.dev/broker.class`);
- the Secrets its function Services read (`env[].valueFrom.secretKeyRef`), which the deployer
  creates: manifests carry references, never values;
- the image its function Services run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import cast

import yaml

from shoal.manifests.resources import FUNCTION_LABELS

BROKER_CLASS = "eventing.knative.dev/broker.class"
DEFAULT_NAMESPACE = "default"
# The CRD behind each Knative kind the manifests use: (apiVersion group, kind) -> CRD name.
KNATIVE_CRDS = {
    ("serving.knative.dev", "Service"): "services.serving.knative.dev",
    ("eventing.knative.dev", "Broker"): "brokers.eventing.knative.dev",
    ("eventing.knative.dev", "Trigger"): "triggers.eventing.knative.dev",
    ("sources.knative.dev", "PingSource"): "pingsources.sources.knative.dev",
    ("sources.knative.dev", "SinkBinding"): "sinkbindings.sources.knative.dev",
}

Object = Mapping[str, object]


@dataclass(frozen=True, slots=True, order=True)
class SecretKeyRef:
    namespace: str
    name: str
    key: str


def _get(value: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _mapping(value: object) -> Mapping[str, object]:
    return cast(Mapping[str, object], value) if isinstance(value, Mapping) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class Rendered:
    """The objects of one rendered overlay (`kubectl kustomize` output)."""

    objects: tuple[Object, ...]

    @classmethod
    def from_yaml(cls, text: str) -> Rendered:
        return cls(tuple(d for d in yaml.safe_load_all(text) if isinstance(d, Mapping)))

    def of_kind(self, group: str, kind: str) -> Iterator[Object]:
        for item in self.objects:
            api_version = str(item.get("apiVersion", ""))
            if item.get("kind") == kind and api_version.partition("/")[0] == group:
                yield item

    @property
    def crds(self) -> list[str]:
        """The CRDs the objects are instances of, sorted."""
        found = {
            KNATIVE_CRDS.get((str(item.get("apiVersion", "")).partition("/")[0], str(kind)))
            for item in self.objects
            if (kind := item.get("kind"))
        }
        return sorted(name for name in found if name)

    @property
    def broker_classes(self) -> list[str]:
        classes = {_get(b, "metadata", "annotations", BROKER_CLASS) for b in self.brokers}
        return sorted(str(name) for name in classes if name)

    @property
    def brokers(self) -> list[Object]:
        return list(self.of_kind("eventing.knative.dev", "Broker"))

    @property
    def function_services(self) -> list[Object]:
        """The Knative Services of Shoal's functions (labelled as such by `shoal manifests`)."""
        return [
            service
            for service in self.of_kind("serving.knative.dev", "Service")
            if FUNCTION_LABELS.items() <= _mapping(_get(service, "metadata", "labels")).items()
        ]

    @property
    def function_images(self) -> list[str]:
        return sorted({str(_get(c, "image")) for c in self._containers(self.function_services)})

    @property
    def secret_refs(self) -> list[SecretKeyRef]:
        """Every Secret key a Knative Service reads into its environment, sorted."""
        refs: set[SecretKeyRef] = set()
        for service in self.of_kind("serving.knative.dev", "Service"):
            namespace = str(_get(service, "metadata", "namespace") or DEFAULT_NAMESPACE)
            for container in self._containers([service]):
                for entry in _list(_get(container, "env")):
                    ref = _get(entry, "valueFrom", "secretKeyRef")
                    name, key = _get(ref, "name"), _get(ref, "key")
                    if isinstance(name, str) and isinstance(key, str):
                        refs.add(SecretKeyRef(namespace, name, key))
        return sorted(refs)

    @staticmethod
    def _containers(services: list[Object]) -> Iterator[object]:
        for service in services:
            yield from _list(_get(service, "spec", "template", "spec", "containers"))
