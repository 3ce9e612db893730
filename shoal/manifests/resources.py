"""One Knative resource per function, subscription and tick, as plain dicts (no YAML here).

Every function runs from one image, told apart by `FUNCTION_TARGET` and `FUNCTION_SOURCE`,
with `functions-framework` as the command (in the server mode `WORKERS` and `THREADS` select),
exactly what `shoal up` and the contract test run.
`SHOAL_STATE_URL` comes from the Secret `shoal-state` (key `url`), which the deployer creates:
credentials never go into generated files. `K_SINK` is not set here: the SinkBinding injects
the Broker's address into every Service labelled as a Shoal function. The settings functions
share come from the ConfigMap `shoal-settings`, which the base's kustomization generates and
patches into every function Service (see `shoal.manifests.kustomize`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shoal.events import PING
from shoal.runtime.spec import FunctionSpec, ServiceSpec
from shoal.runtime.subscriptions import Delivery, Subscribes, Tick, exact, suffix

Document = dict[str, object]

SERVICE_API = "serving.knative.dev/v1"
EVENTING_API = "eventing.knative.dev/v1"
SOURCES_API = "sources.knative.dev/v1"
PART_OF = {"app.kubernetes.io/part-of": "shoal"}
FUNCTION_LABELS = {**PART_OF, "app.kubernetes.io/component": "function"}
FUNCTION_LABEL = "shoal.dev/function"
# Local only: the local broker ticks this often instead of on the cron schedule.
PERIOD_ANNOTATION = "shoal.dev/period-seconds"
STATE_SECRET = {"name": "shoal-state", "key": "url"}
# Marks a Trigger whose function chose its own dead-letter sink: an overlay that gives every
# Trigger one (manifests/overlays/production) leaves these alone.
DEAD_LETTER_LABEL = "shoal.dev/dead-letter-sink"
SINK_BINDING = "shoal-functions"
COMMAND = ["functions-framework"]
# functions-framework's server mode (gunicorn, gthread worker; docs/benchmarks.md says why).
# Set explicitly: its default of 4 threads per CPU counts the node's CPUs, not the pod's.
SERVER_WORKERS = 1
SERVER_THREADS = 8


@dataclass(frozen=True, slots=True)
class Target:
    """Where the rendered resources point: the image and the Broker."""

    image: str
    broker: str = "default"


def _labels(spec: ServiceSpec) -> dict[str, str]:
    return {**FUNCTION_LABELS, FUNCTION_LABEL: spec.service}


def _ref(api_version: str, kind: str, name: str) -> dict[str, object]:
    return {"ref": {"apiVersion": api_version, "kind": kind, "name": name}}


def service(spec: ServiceSpec, source: Path, target: Target) -> Document:
    """The Knative Service of `spec`; `source` is its file relative to the project root."""
    env: list[dict[str, object]] = [
        {"name": "FUNCTION_TARGET", "value": spec.name},
        {"name": "FUNCTION_SOURCE", "value": source.as_posix()},
        {"name": "SHOAL_STATE_URL", "valueFrom": {"secretKeyRef": dict(STATE_SECRET)}},
        {"name": "WORKERS", "value": str(SERVER_WORKERS)},
        {"name": "THREADS", "value": str(SERVER_THREADS)},
    ]
    container = {"image": target.image, "command": list(COMMAND), "env": env}
    return {
        "apiVersion": SERVICE_API,
        "kind": "Service",
        "metadata": {"name": spec.service, "labels": _labels(spec)},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def _delivery(delivery: Delivery, services: Mapping[str, str]) -> dict[str, object]:
    block: dict[str, object] = {
        "retry": delivery.retry,
        "backoffPolicy": delivery.backoff_policy,
        "backoffDelay": delivery.backoff_delay,
    }
    if delivery.timeout is not None:
        block["timeout"] = delivery.timeout
    sink = delivery.dead_letter_sink
    if sink is not None:
        is_url = sink.startswith(("http://", "https://"))
        dead_letters = {"uri": sink} if is_url else _ref(SERVICE_API, "Service", services[sink])
        block["deadLetterSink"] = dead_letters
    return block


def trigger(
    spec: FunctionSpec,
    subscription: Subscribes,
    target: Target,
    services: Mapping[str, str],
) -> Document:
    """The Trigger of one subscription. `services` maps function names to Service names."""
    body: dict[str, object] = {
        "broker": target.broker,
        "subscriber": _ref(SERVICE_API, "Service", spec.service),
    }
    if isinstance(subscription, Tick):
        body["filters"] = [
            exact(type=PING),
            suffix(source=f"/pingsources/{subscription.name}"),
        ]
    elif subscription.filters:
        body["filters"] = [dict(f) for f in subscription.filters]
    elif subscription.attributes:
        body["filter"] = {"attributes": dict(subscription.attributes)}
    body["delivery"] = _delivery(subscription.delivery, services)
    labels = _labels(spec)
    if subscription.delivery.dead_letter_sink is not None:
        labels[DEAD_LETTER_LABEL] = "declared"
    return {
        "apiVersion": EVENTING_API,
        "kind": "Trigger",
        "metadata": {"name": spec.trigger_name(subscription), "labels": labels},
        "spec": body,
    }


def ping_source(tick: Tick, target: Target) -> Document:
    metadata: dict[str, object] = {"name": tick.name, "labels": dict(PART_OF)}
    if tick.local_period_seconds is not None:
        metadata["annotations"] = {PERIOD_ANNOTATION: f"{tick.local_period_seconds:g}"}
    return {
        "apiVersion": SOURCES_API,
        "kind": "PingSource",
        "metadata": metadata,
        "spec": {
            "schedule": tick.schedule,
            "sink": _ref(EVENTING_API, "Broker", target.broker),
        },
    }


def broker(target: Target) -> Document:
    return {
        "apiVersion": EVENTING_API,
        "kind": "Broker",
        "metadata": {"name": target.broker, "labels": dict(PART_OF)},
    }


def sink_binding(target: Target) -> Document:
    """K_SINK = the Broker's address, in every Service labelled as a Shoal function."""
    return {
        "apiVersion": SOURCES_API,
        "kind": "SinkBinding",
        "metadata": {"name": SINK_BINDING, "labels": dict(PART_OF)},
        "spec": {
            "subject": {
                "apiVersion": SERVICE_API,
                "kind": "Service",
                "selector": {"matchLabels": dict(FUNCTION_LABELS)},
            },
            "sink": _ref(EVENTING_API, "Broker", target.broker),
        },
    }
