from __future__ import annotations

import pytest

from local_broker.delivery_spec import (
    DEFAULT_DELIVERY,
    DeliverySpec,
    DeliverySpecError,
    parse_delivery_spec,
)
from local_broker.destinations import Destination


def test_default_delivery_is_knatives_broker_default() -> None:
    assert (DEFAULT_DELIVERY.retry, DEFAULT_DELIVERY.backoff_policy) == (10, "exponential")
    assert DEFAULT_DELIVERY.backoff_delay == 0.2
    assert (DEFAULT_DELIVERY.format, DEFAULT_DELIVERY.dead_letter_sink) == ("binary", None)
    assert (DEFAULT_DELIVERY.timeout, DEFAULT_DELIVERY.retry_after_max) == (None, None)


@pytest.mark.parametrize(
    ("block", "spec"),
    [
        ({}, DeliverySpec()),
        ({"retry": 3}, DeliverySpec(retry=3)),
        ({"retry": 0}, DeliverySpec(retry=0)),
        ({"backoffPolicy": "linear"}, DeliverySpec(backoff_policy="linear")),
        ({"backoffPolicy": "exponential"}, DeliverySpec(backoff_policy="exponential")),
        ({"backoffDelay": "PT0.5S"}, DeliverySpec(backoff_delay=0.5)),
        ({"backoffDelay": "PT0S"}, DeliverySpec(backoff_delay=0.0)),
        ({"timeout": "PT10S"}, DeliverySpec(timeout=10.0)),
        ({"retryAfterMax": "PT2M"}, DeliverySpec(retry_after_max=120.0)),
        ({"retryAfterMax": "PT0S"}, DeliverySpec(retry_after_max=0.0)),
        ({"format": "json"}, DeliverySpec(format="json")),
        ({"format": "binary"}, DeliverySpec(format="binary")),
        ({"retry": None, "backoffPolicy": None}, DeliverySpec()),
        (
            {"retry": 5, "backoffPolicy": "linear", "backoffDelay": "PT1S", "timeout": "PT30S"},
            DeliverySpec(retry=5, backoff_policy="linear", backoff_delay=1.0, timeout=30.0),
        ),
    ],
)
def test_parses_delivery_blocks(block: dict[str, object], spec: DeliverySpec) -> None:
    assert parse_delivery_spec(block) == (spec, None)


def test_dead_letter_sink_is_returned_for_the_caller_to_resolve() -> None:
    spec, sink = parse_delivery_spec({"retry": 1, "deadLetterSink": {"uri": "http://dls:1/"}})
    assert spec == DeliverySpec(retry=1)
    assert sink == Destination(uri="http://dls:1/")


@pytest.mark.parametrize(
    ("block", "field", "message"),
    [
        ("retry: 3", "delivery", "must be a mapping"),
        ({"retry": -1}, "retry", "must be a whole number >= 0"),
        ({"retry": "3"}, "retry", "must be a whole number >= 0"),
        ({"retry": 2.5}, "retry", "must be a whole number >= 0"),
        ({"retry": True}, "retry", "must be a whole number >= 0"),
        ({"backoffPolicy": "fibonacci"}, "backoffPolicy", "must be one of linear, exponential"),
        ({"backoffPolicy": "Linear"}, "backoffPolicy", "must be one of linear, exponential"),
        ({"backoffDelay": "0.2s"}, "backoffDelay", "write 'PT0.2S'"),
        ({"backoffDelay": 0.2}, "backoffDelay", "must be an ISO 8601 duration string"),
        ({"timeout": "PT0S"}, "timeout", "must be longer than zero"),
        ({"timeout": "10s"}, "timeout", "write 'PT10S'"),
        ({"retryAfterMax": "-PT1S"}, "retryAfterMax", "negative"),
        ({"format": "structured"}, "format", "must be one of binary, json"),
        ({"deadLetterSink": {"uri": "/dls"}}, "deadLetterSink", "a relative uri needs a `ref`"),
        ({"deadLetterSink": "http://dls"}, "deadLetterSink", "must be a mapping"),
        ({"retries": 3}, "retries", "unknown delivery field"),
    ],
)
def test_refuses_bad_blocks(block: object, field: str, message: str) -> None:
    with pytest.raises(DeliverySpecError) as caught:
        parse_delivery_spec(block)
    assert caught.value.field == field
    assert message in caught.value.reason
