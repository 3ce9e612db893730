"""The HTTP protocol binding 1.0.2: content modes, header quoting, replies and round trips."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from local_broker.binding import (
    STRUCTURED_CONTENT_TYPE,
    BindingError,
    InvalidEvent,
    UnsupportedFormat,
    decode_reply,
    decode_request,
    encode_binary,
    encode_structured,
)
from local_broker.event import AttributeValue, CloudEvent
from local_broker.jsonformat import event_to_json

BASE: dict[str, AttributeValue] = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
CE_HEADERS = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}
Encoder = Callable[[CloudEvent], tuple[dict[str, str], bytes]]


def body_of(*objects: Mapping[str, Any]) -> bytes:
    return json.dumps(objects[0] if len(objects) == 1 else list(objects)).encode()


def binary(**headers: str) -> dict[str, str]:
    """The required ce- headers plus `headers` (underscores in names become dashes)."""
    return {**CE_HEADERS, **{name.replace("_", "-"): value for name, value in headers.items()}}


# Mode selection (section 3): the media type of Content-Type, any case, any parameters.
MODE_CASES = [
    ("application/cloudevents+json", "structured"),
    ("application/cloudevents+json; charset=utf-8", "structured"),
    ("APPLICATION/CloudEvents+JSON;charset=UTF-8", "structured"),
    (" application/cloudevents+json ; charset=utf-8", "structured"),
    ("application/cloudevents-batch+json", "batch"),
    ("Application/CloudEvents-Batch+JSON; charset=utf-8", "batch"),
    ("application/json", "binary"),
    ("text/plain; charset=utf-8", "binary"),
    ("application/cloudeventsx", "unsupported"),
    ("application/cloudevents", "unsupported"),
    ("application/cloudevents+avro", "unsupported"),
    ("application/cloudevents-batch+avro", "unsupported"),
    ("application/cloudevents+xml; charset=utf-8", "unsupported"),
]


@pytest.mark.parametrize(("content_type", "mode"), MODE_CASES)
def test_mode_follows_content_type(content_type: str, mode: str) -> None:
    structured = {**BASE, "id": "from-body"}
    headers = {**CE_HEADERS, "Content-Type": content_type}
    if mode == "structured":
        [event] = decode_request(headers, body_of(structured))
        assert event.attributes == structured  # the ce- headers are ignored
    elif mode == "batch":
        events = decode_request(headers, body_of(structured, structured))
        assert [e.id for e in events] == ["from-body", "from-body"]
    elif mode == "binary":
        [event] = decode_request(headers, b"payload")
        assert event.attributes == {**BASE, "datacontenttype": content_type}
        assert event.data == b"payload"
    else:
        with pytest.raises(UnsupportedFormat) as caught:
            decode_request(headers, body_of(structured))
        assert caught.value.media_type == content_type
        assert "application/cloudevents+json" in str(caught.value)
        assert caught.value.http_status == 415
        assert caught.value.to_json()["error"] == str(caught.value)


BINARY_CASES: list[
    tuple[str, Mapping[str, str], bytes, dict[str, AttributeValue], bytes | None]
] = [
    ("minimal, no body", CE_HEADERS, b"", BASE, None),
    (
        "header names in any case",
        {"CE-SpecVersion": "1.0", "Ce-Id": "1", "cE-SOURCE": "/s", "CE-TYPE": "t"},
        b"",
        BASE,
        None,
    ),
    (
        "CIMultiDictProxy from aiohttp",
        CIMultiDictProxy(
            CIMultiDict({"Ce-Specversion": "1.0", "CE-ID": "1", "ce-Source": "/s", "Ce-Type": "t"})
        ),
        b"",
        BASE,
        None,
    ),
    (
        "Content-Type becomes datacontenttype, params kept",
        binary(**{"Content-Type": "application/json; charset=utf-8"}),
        b'{"a": 1}',
        {**BASE, "datacontenttype": "application/json; charset=utf-8"},
        b'{"a": 1}',
    ),
    ("body without Content-Type", CE_HEADERS, b"\x00raw", BASE, b"\x00raw"),
    ("empty Content-Type is none", binary(**{"content-type": ""}), b"x", BASE, b"x"),
    (
        "ce-datacontenttype alone",
        binary(ce_datacontenttype="text/plain"),
        b"x",
        {**BASE, "datacontenttype": "text/plain"},
        b"x",
    ),
    (
        "other headers ignored",
        binary(Host="broker", Prefer="reply", ce="x", cex_foo="y", traceparent="00-ab"),
        b"",
        BASE,
        None,
    ),
    (
        "extensions",
        binary(ce_comexampleextension1="value", ce_n="5", ce_flag="true", ce_empty=""),
        b"",
        {**BASE, "comexampleextension1": "value", "n": "5", "flag": "true", "empty": ""},
        None,
    ),
    (
        "long extension name",
        {**CE_HEADERS, "ce-" + "x" * 25: "v"},
        b"",
        {**BASE, "x" * 25: "v"},
        None,
    ),
    (
        "quoted percent",
        binary(ce_subject='"%22quoted%22"'),
        b"",
        {**BASE, "subject": '"quoted"'},
        None,
    ),
    ("percent euro", binary(ce_subject="%E2%82%AC"), b"", {**BASE, "subject": "\u20ac"}, None),
    (
        "spec example",
        binary(ce_subject="Euro%20%E2%82%AC%20%F0%9F%98%80"),
        b"",
        {**BASE, "subject": "Euro \u20ac \U0001f600"},
        None,
    ),
    (
        "quoted-string escapes",
        binary(ce_subject='"a \\"b\\""'),
        b"",
        {**BASE, "subject": 'a "b"'},
        None,
    ),
    ("one round only", binary(ce_subject="%2541"), b"", {**BASE, "subject": "%41"}, None),
    ("lone percent kept", binary(ce_subject="50%"), b"", {**BASE, "subject": "50%"}, None),
    ("encoded required attribute", binary(ce_id="a%20b"), b"", {**BASE, "id": "a b"}, None),
    (
        "time",
        binary(ce_time="2018-04-05T03:56:24Z"),
        b"",
        {**BASE, "time": "2018-04-05T03:56:24Z"},
        None,
    ),
    (
        "0.3 kept as given, body as is",
        binary(
            ce_specversion="0.3",
            ce_schemaurl="https://example.com/s",
            ce_datacontentencoding="base64",
            content_type="application/octet-stream",
        ),
        b"\x00\x01",
        {
            **BASE,
            "specversion": "0.3",
            "schemaurl": "https://example.com/s",
            "datacontentencoding": "base64",
            "datacontenttype": "application/octet-stream",
        },
        b"\x00\x01",
    ),
]


@pytest.mark.parametrize(
    ("headers", "body", "expected_attributes", "expected_data"),
    [case[1:] for case in BINARY_CASES],
    ids=[case[0] for case in BINARY_CASES],
)
def test_decode_binary(
    headers: Mapping[str, str],
    body: bytes,
    expected_attributes: dict[str, AttributeValue],
    expected_data: bytes | None,
) -> None:
    [event] = decode_request(headers, body)
    assert dict(event.attributes) == expected_attributes
    assert event.data == expected_data


def without(name: str) -> dict[str, str]:
    return {key: value for key, value in CE_HEADERS.items() if key != name}


BINARY_ERRORS: list[tuple[str, Mapping[str, str], str | None, str]] = [
    ("no ce- headers", {"Content-Type": "application/json"}, None, "not a CloudEvent"),
    ("no headers at all", {}, None, "ce-specversion, ce-id, ce-source and ce-type"),
    ("no id", without("ce-id"), "id", "required attribute 'id' is missing"),
    ("no specversion", without("ce-specversion"), "specversion", "is missing"),
    ("no source", without("ce-source"), "source", "is missing"),
    ("no type", without("ce-type"), "type", "is missing"),
    ("empty id", binary(ce_id=""), "id", "must not be empty"),
    ("specversion 2.0", binary(ce_specversion="2.0"), "specversion", "not supported"),
    ("bad time", binary(ce_time="yesterday"), "time", "RFC 3339"),
    ("empty subject", binary(ce_subject=""), "subject", "must not be empty"),
    ("dash in name", binary(ce_my_ext="v"), "my-ext", "is not valid; names are lowercase"),
    ("empty name", {**CE_HEADERS, "ce-": "v"}, "", "is not valid; names are lowercase"),
    ("data is not a name", binary(ce_data="v"), "data", "not 'data'"),
    ("invalid UTF-8", binary(ce_subject="%C3%28"), "subject", "ce-subject is not valid UTF-8"),
    ("overlong UTF-8", binary(ce_subject="%C0%A0"), "subject", "UTF-8"),
    ("raw invalid UTF-8", binary(ce_subject="\udcc3\udc28"), "subject", "UTF-8"),
    ("encoded control", binary(ce_ext="a%0Ab"), "ext", "control character"),
    ("bad quoted-string", binary(ce_ext='"a"b"'), "ext", "unescaped double quote"),
    ("duplicate in a dict", {**CE_HEADERS, "CE-ID": "2"}, "id", "appears more than once"),
    (
        "duplicate in a multidict",
        CIMultiDictProxy(CIMultiDict([*CE_HEADERS.items(), ("Ce-Id", "2")])),
        "id",
        "ce-id appears more than once",
    ),
    (
        "Content-Type and ce-datacontenttype",
        binary(ce_datacontenttype="text/plain", content_type="text/plain"),
        "datacontenttype",
        "drop the ce-datacontenttype header",
    ),
    (
        "0.3 unknown encoding",
        binary(ce_specversion="0.3", ce_datacontentencoding="gzip"),
        "datacontentencoding",
        "only value is base64",
    ),
]


@pytest.mark.parametrize(
    ("headers", "attribute", "fragment"),
    [case[1:] for case in BINARY_ERRORS],
    ids=[case[0] for case in BINARY_ERRORS],
)
def test_decode_binary_rejects(
    headers: Mapping[str, str], attribute: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_request(headers, b"")
    assert caught.value.attribute == attribute
    assert fragment in str(caught.value)
    assert str(caught.value)[0].isupper()
    assert str(caught.value).endswith(".")


STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}

STRUCTURED_ERRORS: list[tuple[str, bytes, str | None, str]] = [
    ("empty body", b"", None, "request body is empty"),
    ("invalid JSON", b"{", None, "not valid JSON"),
    ("not UTF-8", b'{"id": "\xff"}', None, "not UTF-8"),
    ("an array", b"[]", None, "JSON object, not a JSON array"),
    ("NaN", b'{"specversion": "1.0", "x": NaN}', None, "NaN"),
    ("missing id", body_of({**BASE, "id": None}), "id", "is missing"),
    ("float extension", body_of({**BASE, "ext": 0.5}), "ext", "only whole numbers"),
    ("object extension", body_of({**BASE, "ext": {}}), "ext", "is a JSON object"),
]


@pytest.mark.parametrize(
    ("body", "attribute", "fragment"),
    [case[1:] for case in STRUCTURED_ERRORS],
    ids=[case[0] for case in STRUCTURED_ERRORS],
)
def test_decode_structured_rejects(body: bytes, attribute: str | None, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_request(STRUCTURED, body)
    assert (caught.value.attribute, caught.value.index) == (attribute, None)
    assert fragment in str(caught.value)


def test_structured_data_members() -> None:
    body = body_of({**BASE, "datacontenttype": "application/xml", "data": "<a/>"})
    [event] = decode_request(STRUCTURED, body)
    assert event.data == b"<a/>"
    [event] = decode_request(STRUCTURED, body_of({**BASE, "data_base64": "AP8="}))
    assert event.data == b"\x00\xff"


def test_batch_keeps_order_and_each_event_its_own_data() -> None:
    first = {**BASE, "id": "a", "datacontenttype": "image/png", "data_base64": "iVBO"}
    second = {**BASE, "id": "b", "datacontenttype": "application/json", "data": {"k": 1}}
    events = decode_request(BATCH, body_of(first, second))
    assert [(e.id, e.data) for e in events] == [("a", b"\x89PN"), ("b", b'{"k":1}')]


def test_empty_batch_is_no_events() -> None:
    assert decode_request(BATCH, b"[]") == []


BATCH_ERRORS: list[tuple[str, bytes, str | None, int | None, str]] = [
    ("not an array", body_of(BASE), None, None, "is a JSON array of events"),
    ("invalid JSON", b"[{]", None, None, "not valid JSON"),
    (
        "one bad element",
        body_of(BASE, BASE, {**BASE, "time": "noon"}, BASE),
        "time",
        2,
        "Event 2 of the batch: time 'noon'",
    ),
    ("element not an object", body_of(BASE, BASE)[:-1] + b", 7]", None, 2, "JSON object"),
    ("first element bad", body_of({**BASE, "type": ""}, BASE), "type", 0, "Event 0 of the batch"),
    (
        "mixed specversions",
        body_of(BASE, {**BASE, "specversion": "0.3"}),
        "specversion",
        1,
        "one specversion",
    ),
]


@pytest.mark.parametrize(
    ("body", "attribute", "index", "fragment"),
    [case[1:] for case in BATCH_ERRORS],
    ids=[case[0] for case in BATCH_ERRORS],
)
def test_decode_batch_rejects(
    body: bytes, attribute: str | None, index: int | None, fragment: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_request(BATCH, body)
    assert (caught.value.attribute, caught.value.index) == (attribute, index)
    assert fragment in str(caught.value)
    assert caught.value.to_json() == {
        "error": str(caught.value),
        "attribute": attribute,
        "index": index,
    }


# Replies: a subscriber's 2xx response.
REPLY_CASES: list[tuple[str, Mapping[str, str], bytes, CloudEvent | None]] = [
    ("nothing", {}, b"", None),
    ("empty text response", {"Content-Type": "text/plain", "Content-Length": "0"}, b"", None),
    ("empty JSON response", {"Content-Type": "application/json"}, b"", None),
    (
        "binary reply",
        {**CE_HEADERS, "Content-Type": "text/plain"},
        b"hi",
        CloudEvent({**BASE, "datacontenttype": "text/plain"}, b"hi"),
    ),
    ("binary reply without data", CE_HEADERS, b"", CloudEvent(BASE)),
    (
        "structured reply (its JSON data's implied type set, json-format 3.1.2)",
        STRUCTURED,
        body_of({**BASE, "data": [1]}),
        CloudEvent({**BASE, "datacontenttype": "application/json"}, b"[1]"),
    ),
]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [case[1:] for case in REPLY_CASES],
    ids=[case[0] for case in REPLY_CASES],
)
def test_decode_reply(headers: Mapping[str, str], body: bytes, expected: CloudEvent | None) -> None:
    assert decode_reply(headers, body) == expected


REPLY_ERRORS: list[tuple[str, Mapping[str, str], bytes, str | None, str]] = [
    (
        "body without ce- headers",
        {"Content-Type": "application/json"},
        b"{}",
        None,
        "has a body but no ce- headers",
    ),
    ("batch", BATCH, b"[]", None, "a single event, not a batch"),
    ("structured, empty body", STRUCTURED, b"", None, "the body is empty"),
    ("structured, invalid", STRUCTURED, body_of({**BASE, "id": ""}), "id", "must not be empty"),
    ("binary, missing id", without("ce-id"), b"", "id", "required attribute 'id' is missing"),
]


@pytest.mark.parametrize(
    ("headers", "body", "attribute", "fragment"),
    [case[1:] for case in REPLY_ERRORS],
    ids=[case[0] for case in REPLY_ERRORS],
)
def test_decode_reply_rejects(
    headers: Mapping[str, str], body: bytes, attribute: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_reply(headers, body)
    assert caught.value.attribute == attribute
    assert str(caught.value).startswith("The response is not a CloudEvent: ")
    assert fragment in str(caught.value)


def test_decode_reply_unsupported_format() -> None:
    with pytest.raises(UnsupportedFormat):
        decode_reply({"Content-Type": "application/cloudevents+avro"}, b"...")


# Encoding.
def test_encode_binary() -> None:
    event = CloudEvent(
        {
            **BASE,
            "subject": "Euro \u20ac \U0001f600",
            "datacontenttype": "application/json; charset=utf-8",
            "count": 5,
            "flag": True,
            "note": '100% "sure"',
        },
        b'{"a":1}',
    )
    headers, body = encode_binary(event)
    assert headers == {
        "ce-specversion": "1.0",
        "ce-id": "1",
        "ce-source": "/s",
        "ce-type": "t",
        "ce-subject": "Euro%20%E2%82%AC%20%F0%9F%98%80",
        "Content-Type": "application/json; charset=utf-8",
        "ce-count": "5",
        "ce-flag": "true",
        "ce-note": "100%25%20%22sure%22",
    }
    assert body == b'{"a":1}'


def test_encode_binary_without_datacontenttype_or_data() -> None:
    headers, body = encode_binary(CloudEvent(BASE))
    assert headers == CE_HEADERS
    assert body == b""


def test_binary_mode_carries_strings_only() -> None:
    event = CloudEvent({**BASE, "count": 5, "flag": False}, None)
    [decoded] = decode_request(*encode_binary(event))
    assert decoded.attributes == {**BASE, "count": "5", "flag": "false"}
    assert decoded.get("count") == event.get("count")  # the canonical strings agree


def test_structured_mode_keeps_attribute_types() -> None:
    event = CloudEvent({**BASE, "count": 5, "flag": False}, None)
    assert decode_request(*encode_structured(event)) == [event]


def test_encode_structured() -> None:
    event = CloudEvent({**BASE, "subject": "\u20ac", "datacontenttype": "text/plain"}, b"hi")
    headers, body = encode_structured(event)
    assert headers == {"Content-Type": STRUCTURED_CONTENT_TYPE}
    assert json.loads(body) == event_to_json(event)
    assert "\u20ac".encode() in body  # UTF-8, not \\u escapes


# Round trips, in each mode (like functions-framework's binary/structured fixtures).
@pytest.fixture(params=["binary", "structured"])
def encode(request: pytest.FixtureRequest) -> Encoder:
    return encode_binary if request.param == "binary" else encode_structured


def v03(**extra: AttributeValue) -> dict[str, AttributeValue]:
    return {**BASE, "specversion": "0.3", **extra}


ROUND_TRIPS: list[tuple[str, CloudEvent]] = [
    ("minimal", CloudEvent(BASE)),
    (
        "all 1.0 attributes",
        CloudEvent(
            {
                **BASE,
                "subject": "s",
                "time": "2018-04-05T17:31:00.123Z",
                "dataschema": "https://example.com/schema",
                "datacontenttype": "application/json",
            },
            b'{"a":[1,"\xe2\x82\xac",null]}',
        ),
    ),
    ("spec example", CloudEvent({**BASE, "subject": "Euro \u20ac \U0001f600"})),
    ("quotes", CloudEvent({**BASE, "subject": '"quoted"', "ext": 'say "hi"'})),
    ("percents", CloudEvent({**BASE, "subject": "%41 100% %", "ext": "%E2%82%AC"})),
    ("backslashes", CloudEvent({**BASE, "subject": "a\\b\\", "ext": '\\"'})),
    ("padding spaces", CloudEvent({**BASE, "subject": "  padded  ", "ext": " "})),
    ("empty extension", CloudEvent({**BASE, "ext": ""})),
    (
        "non-ASCII id and source",
        CloudEvent({**BASE, "id": "\u00e9v\u00e9nement", "source": "/caf\u00e9"}),
    ),
    ("printable ASCII", CloudEvent({**BASE, "ext": "".join(chr(c) for c in range(0x20, 0x7F))})),
    ("text data", CloudEvent({**BASE, "datacontenttype": "text/plain"}, b"caf\xc3\xa9")),
    (
        "binary data",
        CloudEvent({**BASE, "datacontenttype": "application/octet-stream"}, b"\x00\xff"),
    ),
    ("data without type", CloudEvent(BASE, b"\x00raw")),
    ("0.3 base64", CloudEvent(v03(datacontentencoding="base64", schemaurl="/s"), b"\x00\x01")),
    ("0.3 JSON", CloudEvent(v03(datacontenttype="application/json"), b"[1,2]")),
]


@pytest.mark.parametrize(
    "event", [case[1] for case in ROUND_TRIPS], ids=[case[0] for case in ROUND_TRIPS]
)
def test_round_trip(encode: Encoder, event: CloudEvent) -> None:
    headers, body = encode(event)
    assert all(value.isascii() and value.isprintable() for value in headers.values())
    assert decode_request(headers, body) == [event]
    assert decode_reply(headers, body) == event


def test_json_data_without_a_type_gains_the_implied_one_in_structured_mode_only() -> None:
    event = CloudEvent(BASE, b'{"a":1}')
    assert decode_request(*encode_binary(event)) == [event]  # opaque bytes, no type to imply
    typed = CloudEvent({**BASE, "datacontenttype": "application/json"}, b'{"a":1}')
    assert decode_request(*encode_structured(event)) == [typed]  # json-format 3.1.2


def test_encoded_headers_cannot_be_forged() -> None:
    # Attribute strings never hold control characters, but an event built in code might.
    headers, _ = encode_binary(CloudEvent({**BASE, "ext": "x\r\nce-id: forged"}))
    assert headers["ce-ext"] == "x%0D%0Ace-id:%20forged"


def test_errors_share_one_base() -> None:
    assert issubclass(InvalidEvent, BindingError)
    assert issubclass(UnsupportedFormat, BindingError)
