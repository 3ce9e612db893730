from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from local_broker.event import CloudEvent
from local_broker.manifests import load_manifests
from local_broker.resources import Trigger
from shoal import events
from shoal.agent import render_agent_trigger
from shoal.agent.trigger import broker_of, write_agent_trigger


def test_the_trigger_of_one_node() -> None:
    assert render_agent_trigger("n1", "http://10.0.0.5:9000/") == {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {
            "name": "agent-n1",
            "namespace": "default",
            "labels": {
                "app.kubernetes.io/part-of": "shoal",
                "app.kubernetes.io/component": "agent",
                "shoal.dev/agent": "n1",
            },
        },
        "spec": {
            "broker": "default",
            "filters": [
                {
                    "any": [
                        {"exact": {"type": "dev.shoal.replica.scheduled"}},
                        {"exact": {"type": "dev.shoal.replica.stop.requested"}},
                    ]
                },
                {"exact": {"shoalnode": "n1"}},
            ],
            "subscriber": {"uri": "http://10.0.0.5:9000/"},
            "delivery": {"retry": 10, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"},
        },
    }


def test_a_sim_agent_with_several_nodes_filters_on_the_prefix() -> None:
    trigger = render_agent_trigger(
        "sim", "http://127.0.0.1:1/", nodes=3, broker="b", namespace="ns"
    )
    assert trigger["spec"]["filters"][1] == {"prefix": {"shoalnode": "sim-"}}  # type: ignore[index]
    assert trigger["spec"]["broker"] == "b"  # type: ignore[index]
    assert trigger["metadata"]["namespace"] == "ns"  # type: ignore[index]


def loaded(tmp_path: Path, name: str, nodes: int) -> Trigger:
    """The Trigger as the local broker loads it from the file the agent writes."""
    trigger = render_agent_trigger(name, "http://127.0.0.1:9000/", nodes=nodes)
    path = write_agent_trigger(tmp_path / "manifests", trigger)
    assert path == tmp_path / "manifests" / f"agent-{name}.yaml"
    assert yaml.safe_load(path.read_text()) == trigger
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left
    (config_trigger,) = load_manifests([path.parent], {}).triggers
    return config_trigger


def event(type_: str, node: str | None) -> CloudEvent:
    attributes = {"specversion": "1.0", "id": "1", "source": "/shoal/scheduler", "type": type_}
    if node is not None:
        attributes[events.NODE_EXTENSION] = node
    return CloudEvent(attributes)


@pytest.mark.parametrize(
    ("type_", "node", "nodes", "delivered"),
    [
        (events.REPLICA_SCHEDULED, "n1", 1, True),
        (events.REPLICA_STOP_REQUESTED, "n1", 1, True),
        (events.REPLICA_SCHEDULED, "n10", 1, False),
        (events.REPLICA_SCHEDULED, None, 1, False),
        (events.REPLICA_STARTED, "n1", 1, False),
        (events.NODE_HEARTBEAT, "n1", 1, False),
        (events.REPLICA_SCHEDULED, "n1-0", 3, True),
        (events.REPLICA_STOP_REQUESTED, "n1-2", 3, True),
        (events.REPLICA_SCHEDULED, "n1", 3, False),
        (events.REPLICA_SCHEDULED, "n2-0", 3, False),
    ],
)
def test_the_broker_delivers_the_nodes_replica_events(
    tmp_path: Path, type_: str, node: str | None, nodes: int, delivered: bool
) -> None:
    trigger = loaded(tmp_path, "n1", nodes)
    assert trigger.subscriber == "http://127.0.0.1:9000/"
    assert trigger.filter.matches(event(type_, node)) is delivered


def test_rewriting_replaces_the_file(tmp_path: Path) -> None:
    write_agent_trigger(tmp_path, render_agent_trigger("n1", "http://127.0.0.1:1/"))
    path = write_agent_trigger(tmp_path, render_agent_trigger("n1", "http://127.0.0.1:2/"))
    assert yaml.safe_load(path.read_text())["spec"]["subscriber"] == {"uri": "http://127.0.0.1:2/"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/default/default", ("default", "default")),
        ("http://broker-ingress.knative-eventing.svc/shoal/main", ("shoal", "main")),
        ("http://127.0.0.1:8080/shoal/main/", ("shoal", "main")),
        ("http://127.0.0.1:8080/", ("default", "default")),
        ("http://127.0.0.1:8080/a/b/c", ("default", "default")),
    ],
)
def test_broker_of(url: str, expected: tuple[str, str]) -> None:
    assert broker_of(url) == expected
