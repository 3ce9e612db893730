"""CloudEvents on the wire: what a handler sees of a request, and how emitted events travel."""

from __future__ import annotations

import json

import pytest
from cloudevents.http import from_http

from shoal.runtime.errors import NotACloudEventError
from shoal.runtime.event import Event
from shoal.runtime.wire import binary_message, parse_request, parse_with_sdk, structured_message

BINARY = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/tests", "ce-type": "t"}
STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def structured_body(**fields: object) -> bytes:
    fields = {"specversion": "1.0", "id": "1", "source": "/tests", "type": "t", **fields}
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("headers", "body", "data"),
    [
        ({**BINARY, "Content-Type": "application/json"}, b'{"a": [1]}', {"a": [1]}),
        ({**BINARY, "Content-Type": "application/vnd.x+json"}, b"[1, 2]", [1, 2]),
        ({**BINARY, "Content-Type": "text/plain"}, b"123", b"123"),
        (BINARY, b"opaque", b"opaque"),
        (BINARY, b"", None),
        (STRUCTURED, structured_body(data={"a": 1}), {"a": 1}),
        (STRUCTURED, structured_body(data="text"), "text"),
        (STRUCTURED, structured_body(datacontenttype="text/plain", data="text"), b"text"),
        (STRUCTURED, structured_body(data_base64="aGk="), b"hi"),
        (STRUCTURED, structured_body(data=None), None),
        (STRUCTURED, structured_body(), None),
    ],
)
def test_data_is_decoded_json_when_the_content_type_is_json_and_bytes_otherwise(
    headers: dict[str, str], body: bytes, data: object
) -> None:
    assert parse_request(headers, body).data == data


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({**BINARY, "ce-subject": "caf%C3%A9", "ce-node": "n%201"}, b""),
        (STRUCTURED, structured_body(subject="café", node="n 1")),
    ],
)
def test_attributes_are_exactly_those_that_arrived(headers: dict[str, str], body: bytes) -> None:
    event = parse_request(headers, body)

    # No `time` appears where the sender set none (the SDK would invent one).
    assert event == Event(
        id="1", source="/tests", type="t", subject="café", extensions={"node": "n 1"}
    )


def test_binary_messages_percent_encode_and_the_sdk_reads_them_back() -> None:
    emitted = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/shoal/echo",
        "type": "dev.shoal.test.echoed",
        "subject": 'say "100%" ✓',
        "shoalnode": "node-1",
        "datacontenttype": "application/json",
        "data": {"text": "ünïcode"},
    }

    headers, body = binary_message(emitted)

    assert headers["ce-subject"] == "say%20%22100%25%22%20%E2%9C%93"
    assert headers["Content-Type"] == "application/json"
    assert parse_request(headers, body).subject == 'say "100%" ✓'
    assert from_http(headers, body).get_data() == {"text": "ünïcode"}


def test_structured_messages_are_the_json_format_unchanged() -> None:
    emitted = {"specversion": "1.0", "id": "e1", "source": "/s", "type": "t", "data": {"n": 1}}

    headers, body = structured_message(emitted)

    assert headers == {"Content-Type": "application/cloudevents+json"}
    assert json.loads(body) == emitted


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({**BINARY, "Content-Type": "application/json"}, b'{"a": [1, "x"]}'),
        ({**BINARY, "Content-Type": "application/json; charset=utf-8"}, b"null"),
        ({**BINARY, "Content-Type": "text/plain"}, b"plain"),
        (BINARY, b""),
        (BINARY, b"opaque"),
        ({**BINARY, "ce-subject": "caf%C3%A9", "ce-time": "2026-01-02T03:04:05Z"}, b""),
        ({**BINARY, "CE-Node": "n%201", "ce-knativebrokerttl": "255"}, b""),
        ({**BINARY, "ce-dataschema": "https://x/s", "ce-traceparent": "00-ab-cd-01"}, b""),
        ({**BINARY, "ce-id": "", "Content-Type": "application/json"}, b"{}"),
        ({**BINARY, "Content-Type": "application/json"}, b"{not json"),
    ],
    ids=[
        "json",
        "json-charset",
        "text",
        "no-data",
        "bytes",
        "encoded-subject",
        "extensions",
        "dataschema",
        "empty-id",
        "bad-json",
    ],
)
def test_the_binary_hot_path_reads_what_the_sdk_reads(headers: dict[str, str], body: bytes) -> None:
    try:
        expected: object = parse_with_sdk(headers, body)
    except NotACloudEventError as error:
        expected = type(error)

    try:
        actual: object = parse_request(headers, body)
    except NotACloudEventError as error:
        actual = type(error)

    assert actual == expected


@pytest.mark.parametrize(
    "headers",
    [
        {**BINARY, "content-type": "application/json", "ce-subject": "caf%C3%A9"},
        {**BINARY, "ce-id": "", "content-type": "application/json"},
        {"content-type": "application/json"},
    ],
    ids=["binary", "empty-id", "not-an-event"],
)
def test_names_already_lowered_are_read_as_the_lowering_path_reads_them(
    headers: dict[str, str],
) -> None:
    results: list[object] = []
    for names_lowered in (False, True):
        try:
            results.append(parse_request(headers, b"{}", names_lowered=names_lowered))
        except NotACloudEventError as error:
            results.append(str(error))

    assert results[0] == results[1]


@pytest.mark.parametrize(
    ("headers", "body", "named"),
    [
        ({**BINARY, "ce-time": "yesterday"}, b"", "Time 'yesterday' is not an RFC 3339 timestamp"),
        ({**BINARY, "ce-time": "2026-02-30T10:00:00Z"}, b"", "is not an RFC 3339 timestamp"),
        ({**BINARY, "ce-node-name": "n1"}, b"", "The attribute name 'node-name' is not valid"),
        (STRUCTURED, structured_body(Node="n1"), "The attribute name 'Node' is not valid"),
        (STRUCTURED, structured_body(time="2026-11-29"), "Time '2026-11-29' is not an RFC 3339"),
        ({**BINARY, "ce-source": ""}, b"", "source"),
    ],
    ids=["time-word", "time-no-such-day", "binary-name", "structured-name", "date-only", "empty"],
)
def test_an_event_breaking_a_cloudevents_rule_is_refused_naming_the_attribute(
    headers: dict[str, str], body: bytes, named: str
) -> None:
    with pytest.raises(NotACloudEventError, match="not a valid CloudEvent") as refused:
        parse_request(headers, body)

    assert named in str(refused.value)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({**BINARY, "ce-time": "2026-11-29T01:02:03.5+01:00"}, b""),
        (STRUCTURED, structured_body(time="2026-11-29T01:02:03Z", traceparent="00-ab-cd-01")),
        ({**BINARY, "ce-specversion": "0.3", "ce-time": "2026-11-29T01:02:03Z"}, b""),
    ],
    ids=["binary", "structured", "spec-0.3"],
)
def test_valid_times_and_extension_names_pass(headers: dict[str, str], body: bytes) -> None:
    event = parse_request(headers, body)

    assert event.time is not None
    assert event.time.startswith("2026-11-29T01:02:03")
