"""Checking a Kubernetes object against the schema of its kind.

Knative kinds: the pydantic models of `cloudcoil-models-knative-serving` and
`cloudcoil-models-knative-eventing`, generated from the OpenAPI v3 schemas of the Knative
CRDs (Serving and Eventing 1.17): field names, types, required fields. Pydantic drops fields a
model does not declare, so the object is also dumped back and compared with what went in: a
field that does not come back is unknown to the CRD (a typo, or another version's field), a
value that comes back changed had the wrong type.
Built-in kinds (ConfigMap, Namespace, ...): `kubernetes-validate` in strict mode (unknown fields
are errors) against Kubernetes' own schemas.
Neither knows Knative's admission webhooks (a Trigger without a subscriber passes the CRD
schema): the cross-checks in test_overlays.py cover those rules.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import kubernetes_validate
import pydantic
from cloudcoil.resources import Resource

with warnings.catch_warnings():
    # Knative's messaging Channel model names fields like attributes of its base class; unused.
    warnings.filterwarnings(
        "ignore", message="Field name .* shadows an attribute", category=UserWarning
    )
    from cloudcoil.models.knative_eventing.eventing import v1 as eventing
    from cloudcoil.models.knative_eventing.sources import v1 as sources
    from cloudcoil.models.knative_serving.serving import v1 as serving

KUBERNETES_VERSION = "1.32"
KNATIVE_MODELS: Mapping[tuple[str, str], type[Resource]] = {
    ("serving.knative.dev/v1", "Service"): serving.Service,
    ("eventing.knative.dev/v1", "Broker"): eventing.Broker,
    ("eventing.knative.dev/v1", "Trigger"): eventing.Trigger,
    ("sources.knative.dev/v1", "PingSource"): sources.PingSource,
    ("sources.knative.dev/v1", "SinkBinding"): sources.SinkBinding,
}


def schema_errors(item: Mapping[str, Any]) -> list[str]:
    """What is wrong with `item` by its kind's schema; empty when it conforms."""
    key = (str(item.get("apiVersion")), str(item.get("kind")))
    model = KNATIVE_MODELS.get(key)
    if model is not None:
        return _knative_errors(model, item)
    if "knative.dev/" in key[0]:
        return [f"no schema for {key[1]} {key[0]}: a Knative kind these tests do not know"]
    try:
        kubernetes_validate.validate(dict(item), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no Kubernetes {KUBERNETES_VERSION} schema for {key[1]} {key[0]}"]
    except kubernetes_validate.ValidationError as error:
        path = "/".join(str(part) for part in error.path)
        return [f"{path}: {error.message}"]
    return []


def _knative_errors(model: type[Resource], item: Mapping[str, Any]) -> list[str]:
    try:
        parsed = model.model_validate(item)
    except pydantic.ValidationError as error:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    back = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return _differences(item, back, "")


def _differences(sent: object, back: object, path: str) -> list[str]:
    if isinstance(sent, Mapping) and isinstance(back, Mapping):
        found = []
        for key, value in sent.items():
            if key not in back:
                found.append(f"{path}.{key}: not a field of this kind")
            else:
                found += _differences(value, back[key], f"{path}.{key}")
        return found
    if isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        pairs = enumerate(zip(sent, back, strict=True))
        return [error for i, (a, b) in pairs for error in _differences(a, b, f"{path}[{i}]")]
    if sent != back:
        return [f"{path}: {sent!r} is not of the schema's type (read as {back!r})"]
    return []
