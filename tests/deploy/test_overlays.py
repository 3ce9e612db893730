"""Every overlay, as kustomize renders it: each object against its schema, then the references
between objects and the promises of each overlay (what Knative's webhooks and a working
deployment need, which no schema says)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shoal.cli.endpoints import API_SERVICE
from shoal.manifests.kustomize import SETTINGS_CONFIG_MAP
from shoal.manifests.resources import FUNCTION_LABELS, STATE_SECRET
from shoal.runtime.discovery import discover
from shoal.runtime.spec import FunctionSpec

from .conftest import NAMESPACE, OVERLAYS, ROOT, Object
from .schemas import schema_errors

SERVICE_API = "serving.knative.dev/v1"
FILTER_DIALECTS = {"exact", "prefix", "suffix", "all", "any", "not", "cesql"}
# user:password@ in a URL: a credential that must never be written into a manifest.
CREDENTIALS = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def of_kind(objects: list[Object], kind: str) -> list[Object]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


def function_services(objects: list[Object]) -> list[Object]:
    labels = FUNCTION_LABELS.items()
    return [s for s in of_kind(objects, "Service") if s["metadata"]["labels"].items() >= labels]


def refs(trigger: Object) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, destination) of the subscriber and the dead-letter sink of a Trigger."""
    yield "subscriber", trigger["spec"]["subscriber"]
    sink = trigger["spec"].get("delivery", {}).get("deadLetterSink")
    if sink is not None:
        yield "deadLetterSink", sink


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_conforms_to_the_schema_of_its_kind(
    overlays: dict[str, list[Object]], overlay: str
) -> None:
    objects = overlays[overlay]
    errors = {f"{o['kind']} {o['metadata']['name']}": e for o in objects if (e := schema_errors(o))}

    assert errors == {}
    assert {o["kind"] for o in objects} >= {
        "Namespace",
        "ConfigMap",
        "Broker",
        "Trigger",
        "Service",
        "SinkBinding",
        "PingSource",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lives_in_the_shoal_namespace(
    overlays: dict[str, list[Object]], overlay: str
) -> None:
    objects = overlays[overlay]
    (namespace,) = of_kind(objects, "Namespace")

    assert namespace["metadata"]["name"] == NAMESPACE
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        NAMESPACE
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_trigger_reaches_a_broker_and_services_that_exist(
    overlays: dict[str, list[Object]], overlay: str
) -> None:
    objects = overlays[overlay]
    services, brokers = named(objects, "Service"), named(objects, "Broker")

    for trigger in of_kind(objects, "Trigger"):
        name = trigger["metadata"]["name"]
        assert trigger["spec"]["broker"] in brokers, name
        for where, destination in refs(trigger):
            assert len(destination) == 1, f"{name} {where}: one of ref or uri"
            if "uri" in destination:
                assert destination["uri"].startswith(("http://", "https://")), name
                continue
            ref = destination["ref"]
            assert (ref["apiVersion"], ref["kind"]) == (SERVICE_API, "Service"), name
            assert ref["name"] in services, f"{name} {where}: no Service {ref['name']}"
        for expression in trigger["spec"].get("filters", []):
            (dialect,) = expression
            assert dialect in FILTER_DIALECTS, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_function_has_its_service_and_triggers(
    overlays: dict[str, list[Object]], overlay: str
) -> None:
    objects = overlays[overlay]
    services, triggers = named(objects, "Service"), named(objects, "Trigger")
    specs = discover(ROOT / "functions")

    assert specs
    for spec in specs:
        (container,) = services[spec.service]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        source = Path(env["FUNCTION_SOURCE"])
        assert env["FUNCTION_TARGET"] == spec.name
        assert (ROOT / source).resolve() == spec.source_file.resolve()
        if not isinstance(spec, FunctionSpec):
            continue  # an HTTP function: a Service, no Trigger
        for subscription in spec.subscriptions:
            trigger = triggers[spec.trigger_name(subscription)]
            assert trigger["spec"]["subscriber"]["ref"]["name"] == spec.service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_sink_binding_gives_every_function_the_broker(
    overlays: dict[str, list[Object]], overlay: str
) -> None:
    objects = overlays[overlay]
    (binding,) = of_kind(objects, "SinkBinding")
    subject, sink = binding["spec"]["subject"], binding["spec"]["sink"]["ref"]
    functions = function_services(objects)

    assert (subject["apiVersion"], subject["kind"]) == (SERVICE_API, "Service")
    assert subject["selector"]["matchLabels"] == FUNCTION_LABELS
    assert len(functions) == len(discover(ROOT / "functions"))
    for service in functions:
        labels = service["metadata"]["labels"]
        assert subject["selector"]["matchLabels"].items() <= labels.items(), service["metadata"]
    assert sink["kind"] == "Broker"
    assert sink["name"] in named(objects, "Broker")
    for ping_source in of_kind(objects, "PingSource"):
        assert ping_source["spec"]["sink"]["ref"] == sink


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_functions_read_state_from_a_secret_reference_and_settings_from_the_config_map(
    overlays: dict[str, list[Object]], overlay: str
) -> None:
    objects = overlays[overlay]
    functions = [
        s
        for s in of_kind(objects, "Service")
        if s["metadata"]["labels"].items() >= FUNCTION_LABELS.items()
    ]

    assert functions
    for service in functions:
        (container,) = service["spec"]["template"]["spec"]["containers"]
        state = next(e for e in container["env"] if e["name"] == "SHOAL_STATE_URL")
        assert state == {"name": "SHOAL_STATE_URL", "valueFrom": {"secretKeyRef": STATE_SECRET}}
        assert container["envFrom"] == [{"configMapRef": {"name": SETTINGS_CONFIG_MAP}}]
    assert SETTINGS_CONFIG_MAP in named(objects, "ConfigMap")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_in_the_manifests(
    overlays: dict[str, list[Object]], overlay: str
) -> None:
    objects = overlays[overlay]
    text = yaml.safe_dump_all(objects)

    assert of_kind(objects, "Secret") == []
    assert CREDENTIALS.search(text) is None
    assert "postgresql://" not in text


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_broker_config_names_a_config_map_of_the_overlay(
    overlays: dict[str, list[Object]], overlay: str
) -> None:
    objects = overlays[overlay]
    (broker,) = of_kind(objects, "Broker")
    config = broker["spec"]["config"]
    config_map = named(objects, "ConfigMap")[config["name"]]

    assert (config["apiVersion"], config["kind"]) == ("v1", "ConfigMap")
    assert config["namespace"] == config_map["metadata"]["namespace"]


def test_dev_runs_the_channel_based_broker_over_an_in_memory_channel(
    overlays: dict[str, list[Object]],
) -> None:
    objects = overlays["dev"]
    (broker,) = of_kind(objects, "Broker")
    channel = named(objects, "ConfigMap")[broker["spec"]["config"]["name"]]

    assert broker["metadata"]["annotations"] == {
        "eventing.knative.dev/broker.class": "MTChannelBasedBroker"
    }
    assert yaml.safe_load(channel["data"]["channel-template-spec"]) == {
        "apiVersion": "messaging.knative.dev/v1",
        "kind": "InMemoryChannel",
    }


def test_production_runs_the_kafka_broker_with_its_topic_settings(
    overlays: dict[str, list[Object]],
) -> None:
    objects = overlays["production"]
    (broker,) = of_kind(objects, "Broker")
    config = named(objects, "ConfigMap")[broker["spec"]["config"]["name"]]["data"]

    assert broker["metadata"]["annotations"] == {"eventing.knative.dev/broker.class": "Kafka"}
    assert int(config["default.topic.partitions"]) >= 1
    assert int(config["default.topic.replication.factor"]) >= 1
    assert re.fullmatch(r"[\w.-]+:\d+(,[\w.-]+:\d+)*", config["bootstrap.servers"])


def test_production_gives_every_trigger_a_dead_letter_sink(
    overlays: dict[str, list[Object]],
) -> None:
    triggers = of_kind(overlays["production"], "Trigger")

    assert triggers
    missing = [
        t["metadata"]["name"] for t in triggers if "deadLetterSink" not in t["spec"]["delivery"]
    ]
    assert missing == []


def test_production_functions_stay_warm_with_requests_and_only_the_api_is_public(
    overlays: dict[str, list[Object]],
) -> None:
    for service in of_kind(overlays["production"], "Service"):
        name, template = service["metadata"]["name"], service["spec"]["template"]
        (container,) = template["spec"]["containers"]
        visibility = service["metadata"]["labels"].get("networking.knative.dev/visibility")

        assert int(template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"]) >= 1
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, name
        assert visibility == (None if name == API_SERVICE else "cluster-local"), name
