"""The JSON event format (json-format.md 1.0.2) and the attribute rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_broker.attributes import (
    INTEGER_MAX,
    INTEGER_MIN,
    BindingError,
    InvalidEvent,
    is_rfc3339,
    validate_attributes,
)
from local_broker.event import AttributeValue, CloudEvent
from local_broker.jsonformat import dump_json, event_from_json, event_to_json, parse_json

BASE: dict[str, AttributeValue] = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
V03: dict[str, AttributeValue] = {**BASE, "specversion": "0.3"}
JSON_BASE: dict[str, AttributeValue] = {**BASE, "datacontenttype": "application/json"}


def member(**members: Any) -> dict[str, Any]:
    """A JSON-format object: BASE plus `members`."""
    return {**BASE, **members}


def attributes(**extra: AttributeValue) -> dict[str, AttributeValue]:
    return {**BASE, **extra}


FROM_JSON_CASES: list[tuple[str, object, dict[str, AttributeValue], bytes | None]] = [
    ("minimal", member(), BASE, None),
    ("null is absent", member(subject=None, time=None, ext=None), BASE, None),
    (
        "all 1.0 attributes",
        member(
            subject="s",
            time="2018-04-05T17:31:00Z",
            dataschema="https://example.com/schema",
            datacontenttype="application/json",
        ),
        attributes(
            subject="s",
            time="2018-04-05T17:31:00Z",
            dataschema="https://example.com/schema",
            datacontenttype="application/json",
        ),
        None,
    ),
    ("integer extension", member(count=5), attributes(count=5), None),
    ("integer max", member(n=INTEGER_MAX), attributes(n=INTEGER_MAX), None),
    ("integer min", member(n=INTEGER_MIN), attributes(n=INTEGER_MIN), None),
    ("boolean extensions", member(t=True, f=False), attributes(t=True, f=False), None),
    ("string extension", member(e="v"), attributes(e="v"), None),
    ("empty extension string", member(e=""), attributes(e=""), None),
    ("long name is allowed", member(**{"x" * 25: "v"}), attributes(**{"x" * 25: "v"}), None),
    ("digit-only name", member(**{"123": "v"}), attributes(**{"123": "v"}), None),
    ("non-ASCII string", member(subject="Euro \u20ac"), attributes(subject="Euro \u20ac"), None),
    # Data: JSON content (or none declared) keeps the JSON value, compact.
    # json-format 3.1.2: no datacontenttype means application/json, set explicitly, since the
    # broker re-serializes in binary mode.
    (
        "data object, no type",
        member(data={"a": 1, "b": [True, None]}),
        JSON_BASE,
        b'{"a":1,"b":[true,null]}',
    ),
    ("data unicode", member(data={"s": "\u20ac"}), JSON_BASE, '{"s":"\u20ac"}'.encode()),
    ("data string, no type", member(data="hi"), JSON_BASE, b'"hi"'),
    ("data number", member(data=1.5), JSON_BASE, b"1.5"),
    (
        "data null is a null payload",
        member(datacontenttype="application/json", data=None),
        attributes(datacontenttype="application/json"),
        b"null",
    ),
    (
        "json with params",
        member(datacontenttype="application/json; charset=utf-8", data=[1]),
        attributes(datacontenttype="application/json; charset=utf-8"),
        b"[1]",
    ),
    (
        "text/json",
        member(datacontenttype="text/json", data={"a": 1}),
        attributes(datacontenttype="text/json"),
        b'{"a":1}',
    ),
    (
        "+json suffix",
        member(datacontenttype="application/vnd.api+json", data="s"),
        attributes(datacontenttype="application/vnd.api+json"),
        b'"s"',
    ),
    (
        "JSON type in capitals",
        member(datacontenttype="Application/JSON", data={}),
        attributes(datacontenttype="Application/JSON"),
        b"{}",
    ),
    # Data: other content types take a string.
    (
        "text string",
        member(datacontenttype="text/plain", data="hello"),
        attributes(datacontenttype="text/plain"),
        b"hello",
    ),
    (
        "xml string",
        member(datacontenttype="application/xml", data='<much wow="xml"/>'),
        attributes(datacontenttype="application/xml"),
        b'<much wow="xml"/>',
    ),
    (
        "text in a named charset",
        member(datacontenttype="text/plain; charset=iso-8859-1", data="\u00e9"),
        attributes(datacontenttype="text/plain; charset=iso-8859-1"),
        b"\xe9",
    ),
    (
        "text data null is no data",
        member(datacontenttype="text/plain", data=None),
        attributes(datacontenttype="text/plain"),
        None,
    ),
    (
        "data_base64",
        member(datacontenttype="application/octet-stream", data_base64="AAEC/w=="),
        attributes(datacontenttype="application/octet-stream"),
        b"\x00\x01\x02\xff",
    ),
    ("data_base64 no type", member(data_base64="aGk="), BASE, b"hi"),
    ("data_base64 null is absent", member(data_base64=None, data=1), JSON_BASE, b"1"),
    ("empty data_base64", member(data_base64=""), BASE, b""),
    # Spec 0.3: attributes kept as given; datacontentencoding base64 makes data a base64 string.
    (
        "0.3 minimal with schemaurl",
        {**V03, "schemaurl": "https://example.com/s"},
        {**V03, "schemaurl": "https://example.com/s"},
        None,
    ),
    (
        "0.3 base64 data",
        {**V03, "datacontentencoding": "base64", "datacontenttype": "image/png", "data": "aGk="},
        {**V03, "datacontentencoding": "base64", "datacontenttype": "image/png"},
        b"hi",
    ),
    (
        "0.3 Base64 any case",
        {**V03, "datacontentencoding": "Base64", "data": "aGk="},
        {**V03, "datacontentencoding": "Base64"},
        b"hi",
    ),
    (
        "0.3 JSON data",
        {**V03, "data": {"a": 1}},
        {**V03, "datacontenttype": "application/json"},
        b'{"a":1}',
    ),
    (
        "0.3 base64 data null is no data",
        {**V03, "datacontentencoding": "base64", "data": None},
        {**V03, "datacontentencoding": "base64"},
        None,
    ),
    (
        "1.0 datacontentencoding is an extension",
        member(datacontentencoding="x", data="aGk="),
        attributes(datacontentencoding="x", datacontenttype="application/json"),
        b'"aGk="',
    ),
]


@pytest.mark.parametrize(
    ("obj", "expected_attributes", "expected_data"),
    [case[1:] for case in FROM_JSON_CASES],
    ids=[case[0] for case in FROM_JSON_CASES],
)
def test_event_from_json(
    obj: object, expected_attributes: dict[str, AttributeValue], expected_data: bytes | None
) -> None:
    event = event_from_json(obj)
    assert dict(event.attributes) == expected_attributes
    assert event.data == expected_data


def without(name: str) -> dict[str, Any]:
    obj = member()
    del obj[name]
    return obj


INVALID_CASES: list[tuple[str, object, str | None, str]] = [
    ("array", [member()], None, "JSON object, not a JSON array"),
    ("string", "event", None, "JSON object"),
    ("null", None, None, "JSON object, not null"),
    ("no specversion", without("specversion"), "specversion", "required attribute 'specversion'"),
    ("no id", without("id"), "id", "required attribute 'id' is missing"),
    ("no source", without("source"), "source", "required attribute 'source'"),
    ("no type", without("type"), "type", "required attribute 'type'"),
    ("null id is missing", member(id=None), "id", "is missing"),
    ("specversion 2.0", member(specversion="2.0"), "specversion", "'2.0' is not supported"),
    ("specversion number", member(specversion=1), "specversion", "not supported"),
    ("empty id", member(id=""), "id", "must not be empty"),
    ("empty source", member(source=""), "source", "must not be empty"),
    ("integer id", member(id=5), "id", "must be a string"),
    ("boolean type", member(type=True), "type", "must be a string"),
    ("empty subject", member(subject=""), "subject", "must not be empty"),
    ("empty dataschema", member(dataschema=""), "dataschema", "must not be empty"),
    ("numeric datacontenttype", member(datacontenttype=5), "datacontenttype", "string"),
    ("0.3 empty schemaurl", {**V03, "schemaurl": ""}, "schemaurl", "must not be empty"),
    ("time with space", member(time="2018-04-05 17:31:00Z"), "time", "RFC 3339"),
    ("time without offset", member(time="2018-04-05T17:31:00"), "time", "RFC 3339"),
    ("time month 13", member(time="2018-13-05T17:31:00Z"), "time", "RFC 3339"),
    ("time February 30", member(time="2018-02-30T17:31:00Z"), "time", "RFC 3339"),
    ("time hour 24", member(time="2018-04-05T24:00:00Z"), "time", "RFC 3339"),
    ("time short offset", member(time="2018-04-05T17:31:00+5:00"), "time", "RFC 3339"),
    ("time date only", member(time="2018-04-05"), "time", "RFC 3339"),
    ("time number", member(time=1522949460), "time", "must be a string"),
    ("upper-case name", member(Foo="v"), "Foo", "is not valid; names are lowercase"),
    ("underscore name", member(my_ext="v"), "my_ext", "lowercase letters"),
    ("dash name", member(**{"my-ext": "v"}), "my-ext", "lowercase letters"),
    ("empty name", member(**{"": "v"}), "", "is not valid; names are lowercase"),
    (
        "non-ASCII name",
        member(**{"caf\u00e9": "v"}),
        "caf\u00e9",
        "is not valid; names are lowercase",
    ),
    ("object extension", member(ext={"a": 1}), "ext", "is a JSON object"),
    ("array extension", member(ext=[1]), "ext", "is a JSON array"),
    ("float extension", member(ext=1.5), "ext", "only whole numbers"),
    ("whole float extension", member(ext=1.0), "ext", "only whole numbers"),
    ("integer above range", member(ext=INTEGER_MAX + 1), "ext", "outside the CloudEvents Integer"),
    ("integer below range", member(ext=INTEGER_MIN - 1), "ext", "outside the CloudEvents Integer"),
    ("NUL in a string", member(subject="a\x00b"), "subject", "control character"),
    ("newline in a string", member(ext="a\nb"), "ext", "control character"),
    ("C1 control in a string", member(ext="a\x85b"), "ext", "control character"),
    ("lone surrogate", member(ext="\ud800"), "ext", "lone surrogate"),
    ("data and data_base64", member(data=1, data_base64="aGk="), "data", "not both"),
    ("data null and data_base64", member(data=None, data_base64="aGk="), "data", "not both"),
    ("bad base64", member(data_base64="***"), "data_base64", "base64"),
    ("base64 missing padding", member(data_base64="aGk"), "data_base64", "base64"),
    ("numeric data_base64", member(data_base64=5), "data_base64", "base64"),
    (
        "text type with object data",
        member(datacontenttype="text/plain", data={"a": 1}),
        "data",
        "is not JSON, so data must be a JSON string",
    ),
    (
        "text not encodable in its charset",
        member(datacontenttype="text/plain; charset=ascii", data="\u20ac"),
        "data",
        "cannot be encoded as ascii",
    ),
    (
        "0.3 base64 data not a string",
        {**V03, "datacontentencoding": "base64", "data": {"a": 1}},
        "data",
        "base64",
    ),
    (
        "0.3 unknown datacontentencoding",
        {**V03, "datacontentencoding": "quoted-printable", "data": "x"},
        "datacontentencoding",
        "only value is base64",
    ),
]


@pytest.mark.parametrize(
    ("obj", "attribute", "fragment"),
    [case[1:] for case in INVALID_CASES],
    ids=[case[0] for case in INVALID_CASES],
)
def test_event_from_json_rejects(obj: object, attribute: str | None, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        event_from_json(obj)
    assert caught.value.attribute == attribute
    assert caught.value.index is None
    assert fragment in str(caught.value)


def test_floats_and_exponents_in_json_text_are_rejected() -> None:
    for text in (b'{"ext": 1e3}', b'{"ext": 2.0}', b'{"ext": -0.5}'):
        obj = {**BASE, **json.loads(text)}
        with pytest.raises(InvalidEvent, match="only whole numbers") as caught:
            event_from_json(obj)
        assert caught.value.attribute == "ext"


def test_error_in_a_batch_carries_its_index() -> None:
    with pytest.raises(InvalidEvent) as caught:
        event_from_json(member(time="yesterday"), index=3)
    error = caught.value
    assert (error.attribute, error.index) == ("time", 3)
    assert str(error).startswith("Event 3 of the batch: time 'yesterday' is not an RFC 3339")
    assert error.to_json() == {"error": str(error), "attribute": "time", "index": 3}


def test_invalid_event_reads_as_a_sentence() -> None:
    error = InvalidEvent("id", "the required attribute 'id' is missing")
    assert str(error) == "The required attribute 'id' is missing."
    assert error.to_json() == {"error": str(error), "attribute": "id", "index": None}
    assert isinstance(error, BindingError)
    assert error.http_status == 400


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidEvent) as caught:
        event_from_json(member(time="x" * 1000))
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    "value",
    [
        "2018-04-05T17:31:00Z",
        "2018-04-05t17:31:00z",
        "2018-04-05T17:31:00.123456789+05:30",
        "2018-04-05T17:31:00-00:00",
        "2016-12-31T23:59:60Z",  # leap second
        "2024-02-29T00:00:00Z",
    ],
)
def test_rfc3339_accepts(value: str) -> None:
    assert is_rfc3339(value)


@pytest.mark.parametrize(
    "value",
    [
        "2023-02-29T00:00:00Z",
        "2018-04-05T17:60:00Z",
        "2018-04-05T17:31:61Z",
        "2018-04-05T17:31:00+24:00",
        "2018-04-05T17:31:00+05:60",
        "2018-04-05T17:31:00.Z",
        "\u0662\u0660\u0661\u0668-04-05T17:31:00Z",  # non-ASCII digits
        "2018-04-05T17:31:00Z ",
        "",
    ],
)
def test_rfc3339_rejects(value: str) -> None:
    assert not is_rfc3339(value)


def test_validate_attributes_rejects_data_as_a_name() -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_attributes({**BASE, "data": "x"})
    assert caught.value.attribute == "data"


def event(data: bytes | None = None, **extra: AttributeValue) -> CloudEvent:
    return CloudEvent(attributes(**extra), data)


TO_JSON_CASES: list[tuple[str, CloudEvent, dict[str, object]]] = [
    ("no data", event(), {}),
    ("typed extensions", event(n=5, b=True), {"n": 5, "b": True}),
    (
        "JSON data",
        event(b'{"a": [1, 2]}', datacontenttype="application/json"),
        {"datacontenttype": "application/json", "data": {"a": [1, 2]}},
    ),
    ("JSON data, no type", event(b'"hi"'), {"data": "hi"}),
    (
        "null payload",
        event(b"null", datacontenttype="text/json"),
        {"datacontenttype": "text/json", "data": None},
    ),
    ("non-JSON bytes, no type", event(b"hello"), {"data_base64": "aGVsbG8="}),
    (
        "invalid JSON under a JSON type",
        event(b"{oops", datacontenttype="application/json"),
        {"datacontenttype": "application/json", "data_base64": "e29vcHM="},
    ),
    (
        "NaN is not JSON",
        event(b"NaN", datacontenttype="application/json"),
        {"datacontenttype": "application/json", "data_base64": "TmFO"},
    ),
    (
        "text",
        event(b"caf\xc3\xa9", datacontenttype="text/plain"),
        {"datacontenttype": "text/plain", "data": "caf\u00e9"},
    ),
    (
        "text in a named charset",
        event(b"caf\xe9", datacontenttype="text/plain; charset=latin-1"),
        {"datacontenttype": "text/plain; charset=latin-1", "data": "caf\u00e9"},
    ),
    (
        "text that is not UTF-8",
        event(b"\xff", datacontenttype="text/plain"),
        {"datacontenttype": "text/plain", "data_base64": "/w=="},
    ),
    (
        "text whose decoding is not reversible",
        event("hi".encode("utf-16-be"), datacontenttype="text/plain; charset=utf-16"),
        {"datacontenttype": "text/plain; charset=utf-16", "data_base64": "AGgAaQ=="},
    ),
    (
        "binary content type",
        event(b"abc", datacontenttype="application/octet-stream"),
        {"datacontenttype": "application/octet-stream", "data_base64": "YWJj"},
    ),
    (
        "empty bytes",
        event(b"", datacontenttype="image/png"),
        {"datacontenttype": "image/png", "data_base64": ""},
    ),
]


@pytest.mark.parametrize(
    ("event", "expected"),
    [case[1:] for case in TO_JSON_CASES],
    ids=[case[0] for case in TO_JSON_CASES],
)
def test_event_to_json(event: CloudEvent, expected: dict[str, object]) -> None:
    assert event_to_json(event) == {**BASE, **expected}


def test_event_to_json_0_3_base64() -> None:
    obj = event_to_json(CloudEvent({**V03, "datacontentencoding": "base64"}, b"\x00hi"))
    assert obj == {**V03, "datacontentencoding": "base64", "data": "AGhp"}


ROUND_TRIP_EVENTS: list[CloudEvent] = [
    event(),
    event(n=INTEGER_MIN, b=False, s="", subject="Euro \u20ac \U0001f600"),
    event(b'{"a":[1,2.5,"\xe2\x82\xac",null]}', datacontenttype="application/json"),
    event(b"null", datacontenttype="application/json"),
    event(b"\x00\xffraw"),
    event(b"plain text", datacontenttype="text/plain"),
    event(b"\xe9", datacontenttype="text/plain; charset=latin-1"),
    event(b"\x89PNG", datacontenttype="image/png"),
    event(b"", datacontenttype="image/png"),
    event(b'"\\ud800"', datacontenttype="application/json"),  # lone surrogate escape in data
    CloudEvent({**V03, "datacontentencoding": "base64", "schemaurl": "/s"}, b"\x00\x01"),
    CloudEvent({**V03, "datacontenttype": "application/json"}, b'{"a":1}'),
]


@pytest.mark.parametrize("original", ROUND_TRIP_EVENTS, ids=lambda e: repr(e.data)[:30])
def test_round_trip_through_json_text(original: CloudEvent) -> None:
    text = dump_json(event_to_json(original))
    assert event_from_json(parse_json(text, "the body")) == original


@pytest.mark.parametrize("base", [BASE, V03], ids=["1.0", "0.3"])
def test_json_data_without_a_type_comes_back_with_the_implied_one(
    base: dict[str, AttributeValue],
) -> None:
    # json-format 3.1.1 writes it as JSON; 3.1.2 reads it back as application/json, set
    # explicitly because the broker passes it on in binary mode.
    text = dump_json(event_to_json(CloudEvent(base, b'{"a":1}')))
    assert event_from_json(parse_json(text, "the body")) == CloudEvent(
        {**base, "datacontenttype": "application/json"}, b'{"a":1}'
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (b"", "is empty"),
        (b"{", "not valid JSON: Expecting property name"),
        (b"\xff{}", "not UTF-8"),
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b"[Infinity]", "Infinity is not a JSON value"),
        (b"[" * 100_000 + b"]" * 100_000, "nests JSON too deeply"),
    ],
)
def test_parse_json_rejects(text: bytes, fragment: str) -> None:
    with pytest.raises(InvalidEvent, match=fragment) as caught:
        parse_json(text, "the body")
    assert caught.value.attribute is None


def test_a_number_beyond_a_double_is_not_json_the_broker_can_carry() -> None:
    # RFC 8259 section 6: 1e999 would read as Infinity, which no JSON text can hold.
    for text in (b"1e999", b'{"a": [-1e400]}'):
        with pytest.raises(InvalidEvent, match="too large for a double"):
            parse_json(text, "data")
    assert parse_json(b"1.5e308", "data") == 1.5e308


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/json", b"1e999"),  # JSON by its type, but no JSON value can be made of it
        ("text/plain; charset=idna", b"a" * 100),  # the codec fails with UnicodeError itself
    ],
)
def test_binary_data_that_cannot_be_a_json_value_or_string_goes_as_base64(
    content_type: str, data: bytes
) -> None:
    event = CloudEvent({**BASE, "datacontenttype": content_type}, data)
    obj = event_to_json(event)
    assert "data" not in obj
    assert event_from_json(json.loads(dump_json(obj))) == event


def test_data_that_its_charset_cannot_encode_is_refused() -> None:
    obj = member(datacontenttype="text/plain; charset=idna", data="a" * 100)
    with pytest.raises(InvalidEvent) as caught:
        event_from_json(obj)
    assert caught.value.attribute == "data"


@pytest.mark.parametrize("content_type", ["text/plain; name=\u20ac", "text/\udcffplain"])
def test_a_datacontenttype_that_is_no_media_type_is_refused(content_type: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        event_from_json(member(datacontenttype=content_type))
    assert caught.value.attribute == "datacontenttype"
