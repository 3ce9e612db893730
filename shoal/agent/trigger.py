"""The agent's Trigger: the broker delivers its nodes' replica events to its HTTP endpoint.

The filters (Knative's Subscriptions API `filters`) select the two types an agent acts on and
the `shoalnode` extension the scheduler and the deployments function set: equal to the node's
name, or, for a sim agent running `NAME-0 .. NAME-N-1`, starting with `NAME-`. Deliveries are
retried with exponential back-off for about three minutes, so events sent while the agent
restarts reach it once it is back.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from shoal import events

__all__ = ["broker_of", "render_agent_trigger", "trigger_name", "write_agent_trigger"]

TRIGGER_API = "eventing.knative.dev/v1"
DELIVERY = {"retry": 10, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"}


def trigger_name(name: str) -> str:
    return f"agent-{name}"


def render_agent_trigger(
    name: str, url: str, *, broker: str = "default", namespace: str = "default", nodes: int = 1
) -> dict[str, object]:
    """The Trigger for the agent `name` (running `nodes` nodes) whose endpoint is `url`."""
    node_filter = {"exact": {events.NODE_EXTENSION: name}}
    if nodes > 1:
        node_filter = {"prefix": {events.NODE_EXTENSION: f"{name}-"}}
    return {
        "apiVersion": TRIGGER_API,
        "kind": "Trigger",
        "metadata": {
            "name": trigger_name(name),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/part-of": "shoal",
                "app.kubernetes.io/component": "agent",
                "shoal.dev/agent": name,
            },
        },
        "spec": {
            "broker": broker,
            "filters": [
                {
                    "any": [
                        {"exact": {"type": events.REPLICA_SCHEDULED}},
                        {"exact": {"type": events.REPLICA_STOP_REQUESTED}},
                    ]
                },
                node_filter,
            ],
            "subscriber": {"uri": url},
            "delivery": dict(DELIVERY),
        },
    }


def write_agent_trigger(folder: Path, trigger: dict[str, object]) -> Path:
    """Write the Trigger as `agent-<name>.yaml` in `folder`, atomically: a broker watching the
    folder never reads half a file (the temporary name does not end in .yaml)."""
    folder.mkdir(parents=True, exist_ok=True)
    metadata = trigger["metadata"]
    assert isinstance(metadata, dict)
    path = folder / f"{metadata['name']}.yaml"
    partial = folder / f".{path.name}.partial"
    partial.write_text(yaml.safe_dump(trigger, sort_keys=False), encoding="utf-8")
    os.replace(partial, path)
    return path


def broker_of(url: str) -> tuple[str, str]:
    """(namespace, broker) of a broker ingress URL: Knative's and the local broker's ingress
    both serve `/<namespace>/<broker>`; any other path means the `default` broker."""
    parts = [part for part in urlsplit(url).path.split("/") if part]
    if len(parts) == 2:
        return parts[0], parts[1]
    return "default", "default"
