"""The base's `kustomization.yaml`: its resources, plus the settings every function shares.

The shared settings are the environment variables functions read for cluster-wide behaviour
(node liveness in `functions/nodes.py`, placement in `functions/scheduler.py`), at the values
those functions default to. They live in one ConfigMap, `shoal-settings`, which kustomize
generates from `SHARED_SETTINGS`; a JSON patch gives every function Service
`envFrom: [{configMapRef: shoal-settings}]`. An overlay changes a setting for all functions at
once with a `configMapGenerator` entry of `behavior: merge`. Locally (`shoal up`) the functions
run with their defaults, which are these values but one: on Knative the live nodes' heartbeats
also run the nodes function's liveness check (`SHOAL_NODE_LIVENESS_ON_HEARTBEAT=1`), since its
PingSource ticks only once a minute there.

The ConfigMap keeps its plain name (no content-hash suffix): kustomize rewrites references to a
hashed name only in the core kinds it knows, and a Knative Service is not one of them. Pods read
the values when they start, so a changed setting reaches running functions with their next
Revision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from shoal.manifests.resources import FUNCTION_LABELS, PART_OF, SERVICE_API, Document

SETTINGS_CONFIG_MAP = "shoal-settings"
SHARED_SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        "SHOAL_NODE_HEARTBEAT_INTERVAL": "1",
        "SHOAL_NODE_MISSED_HEARTBEATS": "3",
        # Knative's PingSources tick once a minute: heartbeats run the liveness check too
        "SHOAL_NODE_LIVENESS_ON_HEARTBEAT": "1",
        "SHOAL_SCHEDULER_STRATEGY": "spread",
    }
)


def label_selector(labels: Mapping[str, str]) -> str:
    """A Kubernetes label selector matching all of `labels` (sorted, so output is stable)."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def settings_generator(settings: Mapping[str, str]) -> Document:
    return {
        "name": SETTINGS_CONFIG_MAP,
        "literals": [f"{name}={value}" for name, value in sorted(settings.items())],
        "options": {"disableNameSuffixHash": True, "labels": dict(PART_OF)},
    }


def settings_patch() -> Document:
    """Every function Service loads the shared settings. A JSON patch, not a strategic merge:
    kustomize merges lists of a custom resource by replacing them, which would drop the
    container's other fields."""
    operations = [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/envFrom",
            "value": [{"configMapRef": {"name": SETTINGS_CONFIG_MAP}}],
        }
    ]
    return {
        "target": {
            "group": SERVICE_API.partition("/")[0],
            "kind": "Service",
            "labelSelector": label_selector(FUNCTION_LABELS),
        },
        "patch": json.dumps(operations, sort_keys=True),
    }


def kustomization(resources: Sequence[str]) -> Document:
    """The base's kustomization: `resources` plus the shared settings and their patch."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(resources),
        "configMapGenerator": [settings_generator(SHARED_SETTINGS)],
        "patches": [settings_patch()],
    }
