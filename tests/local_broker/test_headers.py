"""Header value quoting and percent-encoding (http-protocol-binding.md 3.1.3.2), media types."""

from __future__ import annotations

import pytest

from local_broker.headers import (
    HeaderValueError,
    decode_header_value,
    encode_header_value,
    is_json_content_type,
    text_codec,
)

ENCODE_CASES = [
    ("simple", "simple"),
    ("", ""),
    # The spec's own example.
    ("Euro \u20ac \U0001f600", "Euro%20%E2%82%AC%20%F0%9F%98%80"),
    ("space encoded", "space%20encoded"),
    ('quote"encoded', "quote%22encoded"),
    ("100%", "100%25"),
    ("%41", "%2541"),
    ("caf\u00e9", "caf%C3%A9"),
    # Every other printable ASCII character stays as it is.
    ("/path?q=a&b=c#f~!*'()[]{}<>,;:@$+=\\^`|", "/path?q=a&b=c#f~!*'()[]{}<>,;:@$+=\\^`|"),
]


# Attribute strings cannot hold control characters, but the encoder still encodes them (the
# spec recommends it), so a bad value can never split or forge a header.
CONTROL_CHARACTERS = [
    ("tab\there", "tab%09here"),
    ("line\r\nce-id: forged", "line%0D%0Ace-id:%20forged"),
    ("del\x7f", "del%7F"),
    ("\u0085next-line", "%C2%85next-line"),
]


@pytest.mark.parametrize(("value", "header"), ENCODE_CASES + CONTROL_CHARACTERS)
def test_encode_header_value(value: str, header: str) -> None:
    assert encode_header_value(value) == header


@pytest.mark.parametrize(("value", "header"), ENCODE_CASES)
def test_decode_undoes_encode(value: str, header: str) -> None:
    assert decode_header_value(header) == value


DECODE_CASES = [
    ("simple", "simple"),
    ("", ""),
    ("Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro \u20ac \U0001f600"),
    ("%E2%82%AC", "\u20ac"),
    ("caf%c3%a9", "caf\u00e9"),  # lower-case hex must be accepted
    ("%41%42", "AB"),  # unnecessarily encoded: accepted
    ("%2541", "%41"),  # exactly one round of decoding
    ('"%22quoted%22"', '"quoted"'),  # quoted-string first, then percent-decoding
    ('"hello world"', "hello world"),
    ('"a\\"b"', 'a"b'),
    ('"a\\\\b"', "a\\b"),
    ('"\\x"', "x"),
    ('""', ""),
    ('"', '"'),  # a lone quote is not a quoted-string
    ('say "hi"', 'say "hi"'),
    ("raw space", "raw space"),
    ("caf\u00e9", "caf\u00e9"),  # raw UTF-8 from a lenient sender
    ("50%", "50%"),  # a % without two hex digits stays as it is
    ("%zz", "%zz"),
    ("%4", "%4"),
    ("100%%41", "100%A"),
]


@pytest.mark.parametrize(("header", "value"), DECODE_CASES)
def test_decode_header_value(header: str, value: str) -> None:
    assert decode_header_value(header) == value


DECODE_ERRORS = [
    ("%C3%28", "UTF-8"),  # invalid continuation byte
    ("%C0%A0", "UTF-8"),  # overlong encoding of U+0020: the spec says reject
    ("%ED%A0%80", "UTF-8"),  # an encoded surrogate
    ("%FF", "UTF-8"),
    ('"%C3%28"', "UTF-8"),
    ("\udcc3\udc28", "UTF-8"),  # raw invalid bytes a server decoded with surrogateescape
    ("%00", "control character"),
    ("a%0Ab", "control character"),
    ("%C2%85", "control character"),
    ("tab\there", "control character"),
    ('"abc\\"', "lone backslash"),
    ('"a"b"', "unescaped double quote"),
]


@pytest.mark.parametrize(("header", "fragment"), DECODE_ERRORS)
def test_decode_header_value_rejects(header: str, fragment: str) -> None:
    with pytest.raises(HeaderValueError, match=fragment):
        decode_header_value(header)


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        (" text/json ", True),
        ("application/vnd.api+json", True),
        ("application/cloudevents+json; charset=UTF-8", True),
        ("text/plain", False),
        ("application/jsonp", False),
        ("application/json-seq", False),
        ("application/xml", False),
        ("json", False),
        ("", False),
    ],
)
def test_is_json_content_type(content_type: str, is_json: bool) -> None:
    assert is_json_content_type(content_type) is is_json


@pytest.mark.parametrize(
    ("content_type", "codec"),
    [
        ("text/plain", "utf-8"),
        ("text/csv; charset=ISO-8859-1", "iso8859-1"),
        ('text/plain; charset="utf-8"', "utf-8"),
        ("application/xml", "utf-8"),
        ("application/atom+xml", "utf-8"),
        ("application/x-www-form-urlencoded", "utf-8"),
        ("application/octet-stream; charset=utf-16", "utf-16"),
        ("application/octet-stream", None),
        ("image/png", None),
        ("text/plain; charset=no-such-charset", None),
        ("text/plain; charset=base64", None),  # a bytes codec, not a text encoding
    ],
)
def test_text_codec(content_type: str, codec: str | None) -> None:
    assert text_codec(content_type) == codec
