from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_broker.cesql import CesqlError
from local_broker.cron import CronSchedule
from local_broker.event import CloudEvent
from local_broker.manifests import (
    DEFAULT_DELIVERY,
    Broker,
    DeliverySpec,
    ManifestError,
    load_manifests,
    validate_trigger_document,
)

SERVICES = {"fn": "http://127.0.0.1:9001", "dls": "http://127.0.0.1:9009/dead"}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def dump(folder: Path, name: str, *documents: Mapping[str, Any]) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(list(documents)))
    return path


def trigger_doc(name: str = "orders", spec: str = "") -> dict[str, Any]:
    """A Trigger document; `spec` is YAML merged into a minimal valid spec."""
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {
            "broker": "default",
            "subscriber": {"uri": "http://127.0.0.1:9001/"},
            **(yaml.safe_load(spec) or {}),
        },
    }


def trigger_yaml(name: str = "orders", spec: str = "") -> str:
    return yaml.safe_dump(trigger_doc(name, spec))


def ping_doc(spec: str = "", annotations: Mapping[str, object] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "tick"}
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": metadata,
        "spec": {"sink": {"uri": "http://127.0.0.1:1/"}, **(yaml.safe_load(spec) or {})},
    }


def load_error(tmp_path: Path, text: str) -> ManifestError:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ManifestError) as caught:
        load_manifests([path], SERVICES)
    return caught.value


def test_loads_a_folder_of_mixed_manifests(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base/broker.yaml",
        """\
        apiVersion: eventing.knative.dev/v1
        kind: Broker
        metadata:
          name: default
        ---
        # a comment-only document is fine
        ---
        apiVersion: serving.knative.dev/v1
        kind: Service
        metadata:
          name: fn
        spec: {template: {spec: {containers: [{image: fn}]}}}
        """,
    )
    write(
        tmp_path,
        "base/functions/triggers.yml",
        """\
        apiVersion: eventing.knative.dev/v1
        kind: Trigger
        metadata:
          name: scheduler
        spec:
          broker: default
          filter:
            attributes:
              type: dev.shoal.replica.requested
          subscriber:
            ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: fn}
        ---
        apiVersion: sources.knative.dev/v1
        kind: SinkBinding
        metadata:
          name: bind
        spec:
          subject: {apiVersion: apps/v1, kind: Deployment, name: x}
          sink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}}
        """,
    )
    write(
        tmp_path,
        "base/ping.yaml",
        """\
        apiVersion: sources.knative.dev/v1
        kind: PingSource
        metadata:
          name: tick
          namespace: ops
        spec:
          schedule: "*/5 * * * *"
          sink:
            uri: http://127.0.0.1:8080/default/default
        """,
    )
    write(tmp_path, "base/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    write(tmp_path, "base/kustomization.yaml", "resources: [broker.yaml, ping.yaml]\n")
    write(tmp_path, "base/README.md", "not yaml: [")

    config = load_manifests([tmp_path / "base"], SERVICES)

    assert config.brokers == {
        ("default", "default"): Broker("default", "default", DEFAULT_DELIVERY)
    }
    [trigger] = config.triggers
    assert (trigger.key, trigger.namespace, trigger.name, trigger.broker) == (
        "default/scheduler",
        "default",
        "scheduler",
        "default",
    )
    assert trigger.subscriber == "http://127.0.0.1:9001"
    assert trigger.delivery == DEFAULT_DELIVERY
    assert trigger.dead_letter_sink is None
    assert trigger.source_file == tmp_path / "base/functions/triggers.yml"
    requested = CloudEvent(
        {"id": "1", "source": "/", "specversion": "1.0", "type": "dev.shoal.replica.requested"}
    )
    assert trigger.filter.matches(requested)
    assert not trigger.filter.matches(requested.with_attributes(type="other"))
    [ping] = config.ping_sources
    assert (ping.namespace, ping.name, ping.source) == (
        "ops",
        "tick",
        "/apis/v1/namespaces/ops/pingsources/tick",
    )
    assert ping.schedule == CronSchedule.parse("*/5 * * * *")
    assert ping.sink == "http://127.0.0.1:8080/default/default"


def test_without_a_broker_there_is_default_default(tmp_path: Path) -> None:
    config = load_manifests([write(tmp_path, "t.yaml", trigger_yaml())], SERVICES)
    assert list(config.brokers) == [("default", "default")]
    assert config.brokers["default", "default"].delivery == DEFAULT_DELIVERY
    assert [trigger.key for trigger in config.triggers] == ["default/orders"]


def test_empty_inputs_give_just_the_default_broker(tmp_path: Path) -> None:
    write(tmp_path, "empty.yaml", "")
    config = load_manifests([tmp_path], {})
    assert (list(config.brokers), config.triggers, config.ping_sources) == (
        [("default", "default")],
        [],
        [],
    )
    assert load_manifests([], {}).brokers.keys() == {("default", "default")}


def test_files_load_in_name_order_and_paths_in_the_given_order(tmp_path: Path) -> None:
    write(tmp_path, "a/2.yaml", trigger_yaml("second"))
    write(tmp_path, "a/1.yaml", trigger_yaml("first"))
    write(tmp_path, "a/sub/0.yaml", trigger_yaml("third"))
    explicit = write(tmp_path, "b.yaml", trigger_yaml("zeroth"))
    config = load_manifests([explicit, tmp_path / "a"], SERVICES)
    assert [trigger.name for trigger in config.triggers] == ["zeroth", "first", "second", "third"]


def test_kubectl_lists_are_unpacked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "list.yaml",
        """\
        apiVersion: v1
        kind: List
        items:
          - apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: listed}
            spec: {broker: default, subscriber: {uri: "http://x:1/"}}
        """,
    )
    assert [trigger.name for trigger in load_manifests([path], {}).triggers] == ["listed"]


def test_an_explicit_kustomization_file_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "kustomization.yaml", "resources: [a.yaml]\n")
    assert load_manifests([path], {}).triggers == []


BROKER_WITH_DELIVERY = {
    "apiVersion": "eventing.knative.dev/v1",
    "kind": "Broker",
    "metadata": {"name": "default"},
    "spec": {
        "delivery": {
            "retry": 3,
            "backoffPolicy": "linear",
            "backoffDelay": "PT1S",
            "deadLetterSink": {
                "ref": {"apiVersion": "v1", "kind": "Service", "name": "dls"},
                "uri": "broker-dead",
            },
        }
    },
}
BROKERS_DELIVERY = DeliverySpec(
    retry=3,
    backoff_policy="linear",
    backoff_delay=1.0,
    dead_letter_sink="http://127.0.0.1:9009/broker-dead",
)


@pytest.mark.parametrize(
    ("trigger_delivery", "expected"),
    [
        # No delivery, or an empty one: the Broker's applies.
        ("", BROKERS_DELIVERY),
        ("delivery: {}", BROKERS_DELIVERY),
        ("delivery: null", BROKERS_DELIVERY),
        # The Trigger's replaces it wholesale: no merge of retry, policy or dead-letter sink.
        ("delivery: {retry: 1}", DeliverySpec(retry=1)),
        ("delivery: {backoffDelay: PT0.1S}", DeliverySpec(backoff_delay=0.1)),
        (
            "delivery: {deadLetterSink: {uri: 'http://elsewhere:1/dead'}, format: json}",
            DeliverySpec(dead_letter_sink="http://elsewhere:1/dead", format="json"),
        ),
        (
            "delivery: {timeout: PT5S, retryAfterMax: PT30S}",
            DeliverySpec(timeout=5.0, retry_after_max=30.0),
        ),
    ],
)
def test_trigger_delivery_replaces_the_brokers(
    tmp_path: Path, trigger_delivery: str, expected: DeliverySpec
) -> None:
    path = dump(tmp_path, "m.yaml", BROKER_WITH_DELIVERY, trigger_doc(spec=trigger_delivery))
    config = load_manifests([path], SERVICES)
    assert config.brokers["default", "default"].delivery == BROKERS_DELIVERY
    [trigger] = config.triggers
    assert trigger.delivery == expected
    assert trigger.dead_letter_sink == expected.dead_letter_sink


def test_triggers_use_their_own_namespaces_broker(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        """\
        apiVersion: eventing.knative.dev/v1
        kind: Broker
        metadata: {name: events, namespace: shop}
        spec: {delivery: {retry: 2}}
        ---
        apiVersion: eventing.knative.dev/v1
        kind: Broker
        metadata: {name: events}
        ---
        apiVersion: eventing.knative.dev/v1
        kind: Trigger
        metadata: {name: paid, namespace: shop}
        spec:
          broker: events
          subscriber: {ref: {apiVersion: v1, kind: Service, name: fn}, uri: /paid}
        """,
    )
    config = load_manifests([path], {"shop/fn": "http://127.0.0.1:7000", "fn": "http://wrong:1"})
    assert set(config.brokers) == {("shop", "events"), ("default", "events")}
    [trigger] = config.triggers
    assert (trigger.key, trigger.broker) == ("shop/paid", "events")
    assert trigger.delivery == DeliverySpec(retry=2)
    assert trigger.subscriber == "http://127.0.0.1:7000/paid"


def test_reloading_gives_equal_configuration(tmp_path: Path) -> None:
    write(
        tmp_path,
        "t.yaml",
        trigger_yaml(
            spec="""\
            filters:
              - any:
                - exact: {type: a, source: /b}
                - cesql: "EXISTS node"
            """
        ),
    )
    first = load_manifests([tmp_path], SERVICES, on_cesql_error=lambda *_: None)
    second = load_manifests([tmp_path], SERVICES)
    assert first == second
    assert first.triggers[0] == second.triggers[0]


def test_cesql_errors_are_reported_with_the_trigger_key(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", trigger_yaml(spec="filters: [{cesql: \"node = 'n1'\"}]"))
    reported: list[tuple[str, CesqlError]] = []
    [trigger] = load_manifests(
        [tmp_path], SERVICES, on_cesql_error=lambda key, error: reported.append((key, error))
    ).triggers
    assert not trigger.filter.matches(
        CloudEvent({"id": "1", "source": "/", "specversion": "1.0", "type": "t"})
    )
    assert [(key, error.kind) for key, error in reported] == [
        ("default/orders", "missingAttribute")
    ]


def test_ping_source_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ping.yaml",
        """\
        apiVersion: sources.knative.dev/v1
        kind: PingSource
        metadata:
          name: reconcile
          annotations:
            shoal.dev/period-seconds: "2.5"
        spec:
          schedule: "0 * * * *"
          timezone: Europe/Paris
          contentType: application/json
          data: '{"reason": "tick"}'
          ceOverrides:
            extensions: {origin: ping, tier: "1"}
          sink:
            ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}
        ---
        apiVersion: sources.knative.dev/v1
        kind: PingSource
        metadata: {name: defaults}
        spec:
          sink: {uri: "http://127.0.0.1:1/"}
        ---
        apiVersion: sources.knative.dev/v1
        kind: PingSource
        metadata: {name: binary}
        spec:
          schedule: "CRON_TZ=Asia/Tokyo 0 9 * * *"
          dataBase64: AAEC/w==
          contentType: application/octet-stream
          sink: {uri: "http://127.0.0.1:1/"}
        """,
    )
    reconcile, defaults, binary = load_manifests(
        [path], {"default": "http://127.0.0.1:8080/default/default"}
    ).ping_sources

    assert reconcile.schedule is None
    assert reconcile.period_seconds == 2.5
    assert reconcile.timezone == "Europe/Paris"
    assert reconcile.data == b'{"reason": "tick"}'
    assert reconcile.content_type == "application/json"
    assert reconcile.ce_overrides == (("origin", "ping"), ("tier", "1"))
    assert reconcile.sink == "http://127.0.0.1:8080/default/default"
    assert reconcile.source == "/apis/v1/namespaces/default/pingsources/reconcile"

    assert defaults.schedule == CronSchedule.parse("* * * * *")
    assert (defaults.period_seconds, defaults.timezone, defaults.data, defaults.content_type) == (
        None,
        None,
        None,
        None,
    )
    assert defaults.ce_overrides == ()

    assert binary.schedule is not None
    assert binary.timezone == binary.schedule.timezone == "Asia/Tokyo"
    assert binary.data == b"\x00\x01\x02\xff"
    assert hash(binary) == hash(load_manifests([path], {"default": "http://b:1"}).ping_sources[2])


def test_validate_trigger_document_without_brokers_or_services() -> None:
    document = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": "scheduler"},
        "spec": {
            "broker": "elsewhere",
            "filters": [{"prefix": {"type": "dev.shoal."}}],
            "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "unknown"}},
            "delivery": {
                "retry": 2,
                "deadLetterSink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "x"}},
            },
        },
    }
    validate_trigger_document(document)
    document["spec"]["filters"] = [{"prefix": {"type": ""}}]  # type: ignore[index]
    with pytest.raises(
        ManifestError, match=r"spec\.filters\[0\]\.prefix\.type: the value must not be empty"
    ):
        validate_trigger_document(document)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "filter: {attributes: {Type: x}}",
            "spec.filter.attributes: attribute name 'Type' is invalid",
        ),
        (
            "filter: {attributes: {replicas: 3}}",
            "spec.filter.attributes.replicas: the value must be a string",
        ),
        ("filter: [type]", "spec.filter must be a mapping"),
        ("filters: {exact: {type: x}}", "spec.filters must be a list"),
        (
            "filters: [{exact: {type: x}, suffix: {type: y}}]",
            "spec.filters[0]: a filter expression has exactly one dialect, found 2 (exact, suffix)",
        ),
        ("filters: [{}]", "spec.filters[0]: a filter expression has exactly one dialect, found 0"),
        ("filters: [{any: []}]", "spec.filters[0].any: needs at least one filter expression"),
        ('filters: [{cesql: "type = "}]', "spec.filters[0].cesql: invalid CESQL at column"),
        ("delivery: {retry: -1}", "spec.delivery.retry: must be a whole number >= 0"),
        (
            "delivery: {backoffDelay: 200ms}",
            "spec.delivery.backoffDelay: '200ms' is not an ISO 8601 duration; "
            "for 0.2 seconds write 'PT0.2S'",
        ),
        (
            "delivery: {backoffPolicy: fast}",
            "spec.delivery.backoffPolicy: must be one of linear, exponential",
        ),
        (
            "delivery: {deadLetterSink: {ref: {apiVersion: v1, kind: Service, name: nope}}}",
            "spec.delivery.deadLetterSink: ref to Service default/nope cannot be resolved "
            "locally: pass --service nope=URL",
        ),
        ("delivery: [retry]", "spec.delivery must be a mapping"),
    ],
)
def test_trigger_errors_name_file_resource_and_field(
    tmp_path: Path, spec: str, message: str
) -> None:
    error = load_error(tmp_path, trigger_yaml(spec=spec))
    assert str(error).startswith(f"{tmp_path / 'bad.yaml'}: Trigger default/orders: ")
    assert message in str(error)
    assert error.file == tmp_path / "bad.yaml"
    assert error.resource == "Trigger default/orders"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: orders}
            spec: {subscriber: {uri: "http://x:1/"}}
            """,
            "Trigger default/orders: spec.broker is required",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: orders, namespace: shop}
            spec: {broker: default, subscriber: {uri: "http://x:1/"}}
            """,
            "Trigger shop/orders: spec.broker: there is no Broker 'default' in namespace "
            "'shop' (Brokers: default/default); add one or fix spec.broker",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: orders}
            spec: {broker: default}
            """,
            "spec.subscriber is required",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: orders}
            spec: {broker: default, subscriber: {uri: /relative}}
            """,
            "spec.subscriber: uri '/relative' must be an absolute http:// or https:// URL",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: orders}
            spec:
              broker: default
              subscriber: {ref: {apiVersion: v1, kind: Service, name: billing}}
            """,
            "spec.subscriber: ref to Service default/billing cannot be resolved locally: "
            "pass --service billing=URL",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: orders}
            """,
            "Trigger default/orders: spec is required",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {namespace: x}
            spec: {}
            """,
            "Trigger: metadata.name is required",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: Orders}
            """,
            "metadata.name 'Orders' is not a valid name",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: a/b}
            """,
            "metadata.name 'a/b' is not a valid name",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Trigger
            metadata: {name: ok, namespace: ../etc}
            """,
            "metadata.namespace '../etc' is not valid",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1beta1
            kind: Trigger
            metadata: {name: old}
            """,
            "Trigger eventing.knative.dev/v1beta1 is not supported; "
            "write apiVersion: eventing.knative.dev/v1",
        ),
        (
            """\
            apiVersion: sources.knative.dev/v1beta2
            kind: PingSource
            metadata: {name: old}
            """,
            "write apiVersion: sources.knative.dev/v1",
        ),
        ("kind: Trigger\nmetadata: {name: x}\n", "lacks apiVersion or kind"),
        ("- just\n- a list\n", "holds a document that is not a resource"),
        ("apiVersion: v1\nkind: [unclosed\n", "invalid YAML"),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Broker
            metadata: {name: default}
            spec: {delivery: {retry: many}}
            """,
            "Broker default/default: spec.delivery.retry: must be a whole number >= 0, not 'many'",
        ),
        (
            """\
            apiVersion: eventing.knative.dev/v1
            kind: Broker
            metadata: {name: default}
            ---
            apiVersion: eventing.knative.dev/v1
            kind: Broker
            metadata: {name: default, namespace: default}
            """,
            "Broker default/default: also defined in",
        ),
    ],
)
def test_document_errors(tmp_path: Path, text: str, message: str) -> None:
    error = load_error(tmp_path, text)
    assert str(error).startswith(str(tmp_path / "bad.yaml"))
    assert message in str(error)


def test_yaml_errors_give_the_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, "apiVersion: v1\nkind: Trigger\nmetadata:\n  name: [a\n")
    assert "expected ',' or ']'" in str(error)
    assert "(line 5, column 1)" in str(error)


def test_duplicates_across_files_name_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", trigger_yaml())
    second = write(tmp_path, "b.yaml", trigger_yaml())
    with pytest.raises(ManifestError) as caught:
        load_manifests([tmp_path], SERVICES)
    assert caught.value.file == second
    assert f"also defined in {first}" in str(caught.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or folder"):
        load_manifests([tmp_path / "nope"], {})


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ManifestError, match="is not UTF-8 text"):
        load_manifests([path], {})


@pytest.mark.parametrize(
    ("spec", "annotations", "message"),
    [
        ("schedule: '61 * * * *'", None, "spec.schedule: minute '61' is outside 0-59"),
        ("schedule: '@every 1m'", None, "Knative's PingSource does not support @every"),
        ("schedule: 5", None, "spec.schedule must be a string"),
        ("timezone: Mars/Base", None, "spec.timezone: unknown time zone 'Mars/Base'"),
        (
            "{timezone: Asia/Tokyo, schedule: 'CRON_TZ=Europe/Paris 0 * * * *'}",
            None,
            "spec.schedule: 'CRON_TZ=Europe/Paris 0 * * * *' sets time zone Europe/Paris",
        ),
        ("{data: x, dataBase64: eA==}", None, "spec.data and spec.dataBase64 are exclusive"),
        ("dataBase64: '***'", None, "spec.dataBase64: not valid base64"),
        (
            "{contentType: application/json, data: '[1, 2]'}",
            None,
            "spec.data: contentType is application/json, so it must hold a JSON object",
        ),
        ("{contentType: application/json, data: 'not json'}", None, "must hold a JSON object"),
        (
            "{contentType: application/json, dataBase64: bm90IGpzb24=}",
            None,
            "spec.dataBase64: contentType is application/json",
        ),
        (
            "ceOverrides: {extensions: {Bad-Name: x}}",
            None,
            "spec.ceOverrides.extensions.Bad-Name: extension names are lower-case",
        ),
        (
            "ceOverrides: {extensions: {tier: 1}}",
            None,
            "spec.ceOverrides.extensions.tier: the value must be a string",
        ),
        ("", {"shoal.dev/period-seconds": 5}, "annotations are strings; quote the number: '5'"),
        ("", {"shoal.dev/period-seconds": "0"}, "'0' is not a number of seconds above zero"),
        ("", {"shoal.dev/period-seconds": "nan"}, "'nan' is not a number of seconds above zero"),
        ("", {"shoal.dev/period-seconds": "inf"}, "'inf' is not a number of seconds above zero"),
        ("", {"shoal.dev/period-seconds": "soon"}, "'soon' is not a number of seconds above"),
        ("", {"shoal.dev/period-seconds": "-1"}, "'-1' is not a number of seconds above zero"),
        ("sink: {uri: /relative}", None, "spec.sink: uri '/relative' must be an absolute"),
        ("sink: null", None, "spec.sink is required"),
    ],
)
def test_ping_source_errors(
    tmp_path: Path, spec: str, annotations: Mapping[str, object] | None, message: str
) -> None:
    error = load_error(tmp_path, yaml.safe_dump(ping_doc(spec, annotations)))
    assert "PingSource default/tick: " in str(error)
    assert message in str(error)


def test_ping_source_needs_a_spec(tmp_path: Path) -> None:
    error = load_error(
        tmp_path, "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata: {name: tick}\n"
    )
    assert "PingSource default/tick: spec is required" in str(error)


def test_refs_to_brokers_resolve_through_broker_url(tmp_path: Path) -> None:
    broker_ref = "ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}"
    ping = dump(tmp_path, "ping.yaml", ping_doc(f"sink: {{{broker_ref}}}"))
    config = load_manifests(
        [ping], {}, broker_url=lambda namespace, name: f"http://127.0.0.1:8080/{namespace}/{name}"
    )
    assert config.ping_sources[0].sink == "http://127.0.0.1:8080/default/default"
    # An explicit service entry wins; without either, the error says what to pass.
    explicit = load_manifests(
        [ping], {"default": "http://elsewhere:1/"}, broker_url=lambda *_: "http://unused:1/"
    )
    assert explicit.ping_sources[0].sink == "http://elsewhere:1/"
    with pytest.raises(ManifestError, match="pass --service default=URL"):
        load_manifests([ping], {})


def test_broker_url_covers_only_brokers_in_the_manifests(tmp_path: Path) -> None:
    def broker_url(namespace: str, name: str) -> str:
        return f"http://b:1/{namespace}/{name}"

    events = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": "events"},
    }
    to_events = trigger_doc(
        spec="""
        broker: events
        delivery:
          deadLetterSink:
            ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: events}
            uri: dead-letters
        """
    )
    [trigger] = load_manifests(
        [dump(tmp_path, "ok.yaml", events, to_events)], {}, broker_url=broker_url
    ).triggers
    assert trigger.dead_letter_sink == "http://b:1/default/dead-letters"
    # With a Broker in the manifests there is no implicit default/default to point at.
    to_default = ping_doc(
        "sink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}}"
    )
    with pytest.raises(ManifestError) as caught:
        load_manifests([dump(tmp_path, "bad.yaml", events, to_default)], {}, broker_url=broker_url)
    assert "PingSource default/tick: spec.sink: ref to Broker default/default" in str(caught.value)


def test_validate_trigger_document_checks_the_kind() -> None:
    with pytest.raises(ManifestError, match="not a Trigger"):
        validate_trigger_document({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker"})
    with pytest.raises(ManifestError, match=r"^Trigger default/t: spec is required$"):
        validate_trigger_document(
            {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t"}}
        )
