from __future__ import annotations

import pytest

from local_broker.destinations import (
    Addresses,
    Destination,
    DestinationError,
    ObjectReference,
    parse_destination,
)

SERVICE_REF = {"apiVersion": "v1", "kind": "Service", "name": "fn"}
ADDRESSES = Addresses(
    services={
        "fn": "http://127.0.0.1:9001",
        "ops/fn": "http://127.0.0.1:9002",
        "nested": "http://127.0.0.1:9003/api/v1",
        "nested-dir": "http://127.0.0.1:9003/api/v1/",
        "bad": "127.0.0.1:9000",
        "ops/events": "http://127.0.0.1:7777/explicit",
    },
    brokers={
        ("default", "default"): "http://127.0.0.1:8080/default/default",
        ("ops", "events"): "http://127.0.0.1:8080/ops/events",
        ("ops", "fn"): "http://127.0.0.1:8080/ops/fn",
    },
)
BROKER_REF = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}


@pytest.mark.parametrize(
    ("value", "namespace", "url"),
    [
        ({"uri": "http://example.com/hook"}, "default", "http://example.com/hook"),
        ({"uri": "https://example.com"}, "default", "https://example.com"),
        ({"ref": SERVICE_REF}, "default", "http://127.0.0.1:9001"),
        # NAMESPACE/NAME wins over NAME; a ref without namespace takes the referrer's.
        ({"ref": SERVICE_REF}, "ops", "http://127.0.0.1:9002"),
        ({"ref": {**SERVICE_REF, "namespace": "ops"}}, "default", "http://127.0.0.1:9002"),
        ({"ref": {**SERVICE_REF, "namespace": "other"}}, "default", "http://127.0.0.1:9001"),
        (
            {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "fn"}},
            "default",
            "http://127.0.0.1:9001",
        ),
        # Brokers served here, unless --service names them
        ({"ref": BROKER_REF}, "default", "http://127.0.0.1:8080/default/default"),
        (
            {"ref": {**BROKER_REF, "name": "events", "namespace": "ops"}},
            "x",
            "http://127.0.0.1:7777/explicit",
        ),
        ({"ref": {**BROKER_REF, "name": "fn"}}, "ops", "http://127.0.0.1:9002"),
        # ref + uri: RFC 3986 section 5.2 against a base without a path
        ({"ref": SERVICE_REF, "uri": "/update"}, "default", "http://127.0.0.1:9001/update"),
        ({"ref": SERVICE_REF, "uri": "update"}, "default", "http://127.0.0.1:9001/update"),
        ({"ref": SERVICE_REF, "uri": "?q=1"}, "default", "http://127.0.0.1:9001?q=1"),
        # ... and against a base whose path has no trailing slash: the last segment is replaced
        (
            {"ref": {**SERVICE_REF, "name": "nested"}, "uri": "hook"},
            "default",
            "http://127.0.0.1:9003/api/hook",
        ),
        (
            {"ref": {**SERVICE_REF, "name": "nested"}, "uri": "/hook"},
            "default",
            "http://127.0.0.1:9003/hook",
        ),
        (
            {"ref": {**SERVICE_REF, "name": "nested"}, "uri": "../x"},
            "default",
            "http://127.0.0.1:9003/x",
        ),
        (
            {"ref": {**SERVICE_REF, "name": "nested"}, "uri": "./"},
            "default",
            "http://127.0.0.1:9003/api/",
        ),
        (
            {"ref": {**SERVICE_REF, "name": "nested"}, "uri": "#frag"},
            "default",
            "http://127.0.0.1:9003/api/v1#frag",
        ),
        # ... with a trailing slash, the uri goes below it
        (
            {"ref": {**SERVICE_REF, "name": "nested-dir"}, "uri": "hook"},
            "default",
            "http://127.0.0.1:9003/api/v1/hook",
        ),
        # an absolute uri next to a ref wins
        ({"ref": SERVICE_REF, "uri": "http://other:1/x"}, "default", "http://other:1/x"),
        ({"ref": SERVICE_REF, "uri": "//other:2/y"}, "default", "http://other:2/y"),
    ],
)
def test_resolves(value: dict[str, object], namespace: str, url: str) -> None:
    assert parse_destination(value).resolve(ADDRESSES, namespace) == url


@pytest.mark.parametrize(
    ("relative", "resolved"),
    [
        # The normal examples of RFC 3986, section 5.4.1, against http://a/b/c/d;p?q
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g"),
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q#s"),
        ("g#s", "http://a/b/c/g#s"),
        (";x", "http://a/b/c/;x"),
        ("g;x", "http://a/b/c/g;x"),
        (".", "http://a/b/c/"),
        ("./", "http://a/b/c/"),
        ("..", "http://a/b/"),
        ("../", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../..", "http://a/"),
        ("../../", "http://a/"),
        ("../../g", "http://a/g"),
    ],
)
def test_ref_plus_uri_follows_rfc_3986(relative: str, resolved: str) -> None:
    destination = Destination(ObjectReference("v1", "Service", "a"), relative)
    assert destination.resolve(Addresses({"a": "http://a/b/c/d;p?q"}), "default") == resolved


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://example.com", "must be a mapping"),
        ({}, "needs a `uri`"),
        ({"uri": None, "ref": None}, "needs a `uri`"),
        ({"uri": ""}, "uri must be a non-empty string"),
        ({"uri": 5}, "uri must be a non-empty string"),
        ({"uri": "/update"}, "a relative uri needs a `ref`"),
        ({"uri": "example.com/hook"}, "must be an absolute http:// or https:// URL"),
        ({"uri": "ftp://example.com/hook"}, "must be an absolute http:// or https:// URL"),
        ({"uri": "http:///nohost"}, "must be an absolute http:// or https:// URL"),
        ({"ref": "fn"}, "ref must be a mapping"),
        ({"ref": {"kind": "Service", "name": "fn"}}, "ref.apiVersion is required"),
        ({"ref": {"apiVersion": "v1", "name": "fn"}}, "ref.kind is required"),
        ({"ref": {"apiVersion": "v1", "kind": "Service"}}, "ref.name is required"),
        ({"ref": {"apiVersion": "v1", "kind": "Service", "name": ""}}, "ref.name is required"),
        ({"ref": {**SERVICE_REF, "namespace": 3}}, "ref.namespace must be a string"),
    ],
)
def test_malformed_destinations(value: object, message: str) -> None:
    with pytest.raises(DestinationError) as caught:
        parse_destination(value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("ref", "namespace", "message"),
    [
        ({**SERVICE_REF, "name": "billing"}, "shop", "Service shop/billing cannot be resolved"),
        # A Broker that is not served here; a Broker of another API group.
        ({**BROKER_REF, "name": "missing"}, "default", "Broker default/missing cannot be resolved"),
        ({**BROKER_REF, "apiVersion": "other.dev/v1"}, "default", "Broker default/default cannot"),
        # A Service is no Broker, even with a Broker's name.
        ({**SERVICE_REF, "name": "default"}, "default", "Service default/default cannot be"),
    ],
)
def test_unknown_ref_says_how_to_provide_it(
    ref: dict[str, str], namespace: str, message: str
) -> None:
    destination = parse_destination({"ref": ref})
    with pytest.raises(DestinationError) as caught:
        destination.resolve(ADDRESSES, namespace)
    assert message in str(caught.value)
    assert f"pass --service {ref['name']}=URL" in str(caught.value)


def test_service_url_must_be_absolute() -> None:
    destination = parse_destination({"ref": {**SERVICE_REF, "name": "bad"}})
    with pytest.raises(DestinationError, match=r"Service bad, '127\.0\.0\.1:9000', is not an"):
        destination.resolve(ADDRESSES, "default")


def test_empty_ref_namespace_means_the_referrers() -> None:
    destination = parse_destination({"ref": {**SERVICE_REF, "namespace": ""}})
    assert destination.ref == ObjectReference("v1", "Service", "fn", None)
    assert destination.resolve(ADDRESSES, "ops") == "http://127.0.0.1:9002"
