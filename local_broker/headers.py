"""The text of HTTP header values: ce- header quoting (http-protocol-binding.md 3.1.3.2),
the characters attribute strings may hold, and media types (Content-Type, datacontenttype).

Encoding percent-encodes, as UTF-8 `%XY` with upper-case hex, every space, double quote,
percent sign and character outside printable ASCII, and nothing else. Decoding first undoes an
RFC 7230 quoted-string (section 3.2.6: senders of older spec versions may quote), then does one
round of RFC 3986 percent-decoding; the decoded bytes must be valid UTF-8 (overlong forms too are
rejected). A `%` not followed by two hex digits is kept as it is, as WHATWG URL percent-decoding
does, so an unencoded "50%" from an older sender still reads as "50%".

Most values are plain printable ASCII without `%` or `"`: both directions return those untouched
after a few C-level string checks.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import Final
from urllib.parse import quote, unquote_to_bytes

# Printable ASCII (U+0021..U+007E) less double quote and percent: left as they are.
_UNENCODED: Final = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) not in '"%')
# Core spec "Type System", String: control characters and surrogates are not allowed.
_DISALLOWED_CHARACTER: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_SUBTYPES: Final = frozenset(
    {"xml", "javascript", "ecmascript", "x-www-form-urlencoded", "yaml", "x-yaml", "csv"}
)


def has_disallowed_character(value: str) -> bool:
    """True when `value` holds a character the String type forbids (controls, surrogates)."""
    return _DISALLOWED_CHARACTER.search(value) is not None


class HeaderValueError(ValueError):
    """A header value that does not decode; str() completes "the value of header ce-x ..."."""


def encode_header_value(value: str) -> str:
    """The header form of an attribute's canonical string (3.1.3.2)."""
    if (
        value.isascii()
        and value.isprintable()
        and " " not in value
        and '"' not in value
        and "%" not in value
    ):
        return value
    return quote(value, safe=_UNENCODED)


def decode_header_value(value: str) -> str:
    """The attribute value a header carries (3.1.3.2); raises HeaderValueError."""
    if value.isascii() and value.isprintable() and '"' not in value and "%" not in value:
        return value
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = _unquote(value[1:-1])
    try:
        if "%" in value:
            decoded = unquote_to_bytes(value).decode("utf-8")
        else:
            # Raw bytes a server decoded with surrogateescape are not UTF-8: this fails on them.
            value.encode("utf-8")
            decoded = value
    except UnicodeError:
        raise HeaderValueError("is not valid UTF-8 once percent-decoded") from None
    if has_disallowed_character(decoded):
        raise HeaderValueError("contains a control character, which attribute values must not")
    return decoded


def _unquote(inner: str) -> str:
    """The content of an RFC 7230 quoted-string: backslash escapes undone."""
    if "\\" not in inner and '"' not in inner:
        return inner
    parts: list[str] = []
    position = 0
    while position < len(inner):
        character = inner[position]
        if character == "\\":
            if position + 1 == len(inner):
                raise HeaderValueError("is a quoted string that ends in a lone backslash")
            parts.append(inner[position + 1])
            position += 2
            continue
        if character == '"':
            raise HeaderValueError("is a quoted string with an unescaped double quote inside")
        parts.append(character)
        position += 1
    return "".join(parts)


@lru_cache(maxsize=256)
def _media_type(content_type: str) -> tuple[str, str, str]:
    """(type, subtype, charset) of a media type expression, lowercased; charset '' if absent."""
    media, _, parameters = content_type.partition(";")
    main, _, subtype = media.strip().lower().partition("/")
    charset = ""
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return main, subtype, charset


def is_json_content_type(content_type: str) -> bool:
    """json-format 3.1.1: a media type of the form `*/json` or `*/*+json` declares JSON data."""
    _, subtype, _ = _media_type(content_type)
    return subtype == "json" or subtype.endswith("+json")


@lru_cache(maxsize=256)
def text_codec(content_type: str) -> str | None:
    """The codec for textual content, or None when the content type is not known to be text."""
    main, subtype, charset = _media_type(content_type)
    textual = (
        main == "text"
        or bool(charset)
        or subtype in _TEXT_SUBTYPES
        or subtype.endswith(("+xml", "+yaml"))
    )
    if not textual:
        return None
    if not charset:
        return "utf-8"
    try:
        codec = codecs.lookup(charset).name
        "".encode(codec)  # rejects bytes-to-bytes codecs such as base64
    except LookupError:
        return None
    return codec
