"""The CloudEvents JSON event format (json-format.md 1.0.2).

An event's JSON form holds its attributes as top-level members (section 2) and its data in
`data` or `data_base64` (section 3.1). The broker keeps data as bytes, so decoding turns the
`data` member into bytes and encoding turns bytes back into a JSON value where it can:

- JSON content (datacontenttype `*/json` or `*/*+json`, or absent, json-format 3.1.2): the
  `data` value, stored as its compact UTF-8 serialization. A round trip through this format
  therefore normalizes JSON data (whitespace, escapes) but keeps its meaning.
- other content in a `data` string: the string encoded with the content type's charset (UTF-8
  when none is named).
- `data_base64` (and, for spec 0.3, `data` with `datacontentencoding: base64`): the decoded bytes.

Attributes keep the JSON type they arrived with (string, integer or boolean); `null` means
absent (section 2.2). Attributes are kept as given, with one exception: an event with a `data`
member and no datacontenttype gets `application/json`, the type the format implies (3.1.2: it
SHOULD be set explicitly when the event is re-serialized in another format or binding, and the
broker delivers in binary mode, where only Content-Type would say the bytes are JSON).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Final

from local_broker.attributes import (
    InvalidEvent,
    attribute_value,
    has_base64_data,
    shown,
    validate_attributes,
)
from local_broker.event import AttributeValue, CloudEvent, canonical_string
from local_broker.headers import is_json_content_type, text_codec

_DATA_MEMBERS: Final = frozenset({"data", "data_base64"})
IMPLIED_CONTENT_TYPE: Final = "application/json"  # of a `data` member without one (3.1.2)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _finite_number(text: str) -> float:
    # RFC 8259 section 6 lets a parser bound its numbers; one beyond a double (1e999) would come
    # back as Infinity, which is not JSON, and could then neither be stored nor delivered.
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:40]} is too large for a double")
    return number


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_number)
_COMPACT: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_COMPACT_ASCII: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def parse_json(text: bytes, what: str) -> object:
    """The JSON value of UTF-8 `text` (RFC 8259 section 8.1); InvalidEvent names `what`."""
    if not text:
        raise InvalidEvent(None, f"{what} is empty; it must hold JSON")
    try:
        return _DECODER.decode(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidEvent(None, f"{what} is not UTF-8 text, so it is not JSON") from None
    except json.JSONDecodeError as error:
        place = f"line {error.lineno} column {error.colno}"
        raise InvalidEvent(None, f"{what} is not valid JSON: {error.msg} at {place}") from None
    except RecursionError:
        raise InvalidEvent(None, f"{what} nests JSON too deeply to read") from None
    except ValueError as error:
        raise InvalidEvent(None, f"{what} is not valid JSON: {error}") from None


def dump_json(value: object) -> bytes:
    """Compact UTF-8 JSON; escapes to ASCII when `value` holds lone surrogates (from \\udXXX)."""
    try:
        return _COMPACT.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        return _COMPACT_ASCII.encode(value).encode("ascii")


def event_from_json(obj: object, index: int | None = None) -> CloudEvent:
    """The event a JSON-format object describes; raises InvalidEvent (carrying `index`)."""
    try:
        return _event_from_json(obj)
    except InvalidEvent as error:
        if index is None:
            raise
        raise InvalidEvent(error.attribute, error.reason, index) from None


def _event_from_json(obj: object) -> CloudEvent:
    if not isinstance(obj, dict):
        raise InvalidEvent(None, f"a CloudEvent in JSON format is a JSON object, not {_kind(obj)}")
    attributes: dict[str, AttributeValue] = {}
    for name, value in obj.items():
        if name in _DATA_MEMBERS or value is None:  # json-format 2.2: null means unset
            continue
        attributes[name] = attribute_value(name, value)
    validate_attributes(attributes)
    data = _data_from_json(obj, attributes)
    if "data" in obj and "datacontenttype" not in attributes and not has_base64_data(attributes):
        attributes["datacontenttype"] = IMPLIED_CONTENT_TYPE  # json-format 3.1.2
    return CloudEvent(attributes, data)


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, float):
        return f"the number {value!r} (only whole numbers are CloudEvents Integers)"
    if value is None:
        return "null"
    return f"a JSON {type(value).__name__}"


def _data_from_json(
    obj: dict[str, object], attributes: Mapping[str, AttributeValue]
) -> bytes | None:
    binary = data_base64_of(obj)
    if binary is not None:
        return binary
    if "data" not in obj:
        return None
    data = obj["data"]
    if has_base64_data(attributes):
        return None if data is None else base64_member_bytes("data", data)
    content_type = attributes.get("datacontenttype")
    if content_type is None or is_json_content_type(canonical_string(content_type)):
        # json-format 3.1.2: the data member is the JSON value itself; null is an explicit
        # null payload, distinct from no data.
        return dump_json(data)
    if data is None:
        return None
    return text_data_bytes(data, canonical_string(content_type))


def data_base64_of(obj: Mapping[str, object]) -> bytes | None:
    """json-format 3.1.1: the bytes of `data_base64`, None without one; an event has `data` or
    `data_base64`, not both."""
    encoded = obj.get("data_base64")
    if encoded is None:
        return None
    if "data" in obj:
        raise InvalidEvent("data", "an event has either a data or a data_base64 member, not both")
    return base64_member_bytes("data_base64", encoded)


def text_data_bytes(data: object, content_type: str) -> bytes:
    """json-format 3.1.2: the `data` member of an event whose content type is not JSON must be
    a string; its bytes are that string in the type's charset (UTF-8 when it names none)."""
    if not isinstance(data, str):
        raise InvalidEvent(
            "data",
            f"datacontenttype {shown(content_type)} is not JSON, so data must be a JSON string "
            f"(or base64 in data_base64), not {_kind(data)}",
        )
    codec = text_codec(content_type) or "utf-8"
    try:
        return data.encode(codec)
    except UnicodeError:  # not only UnicodeEncodeError: the idna codec raises its base class
        raise InvalidEvent(
            "data", f"data cannot be encoded as {codec}, the charset of its datacontenttype"
        ) from None


def base64_member_bytes(member: str, value: object) -> bytes:
    """The bytes of a base64 member (`data_base64`, or spec 0.3's `data`); RFC 4648."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise InvalidEvent(member, f"{member} must be a base64 string (RFC 4648), not {shown(value)}")


def event_to_json(event: CloudEvent) -> dict[str, object]:
    """The JSON-format object of `event` (json-format 3.1.1 for where the data goes).

    Data becomes a JSON value when the content type is JSON (or absent) and the bytes parse,
    a string when the content type is textual and the bytes decode in its charset, and
    `data_base64` otherwise, so that `event_from_json` gives the same bytes back.
    """
    obj: dict[str, object] = dict(event.attributes)
    data = event.data
    if data is None:
        return obj
    attributes = event.attributes
    if has_base64_data(attributes):
        obj["data"] = base64.b64encode(data).decode("ascii")
        return obj
    content_type = attributes.get("datacontenttype")
    if content_type is None or is_json_content_type(canonical_string(content_type)):
        try:
            obj["data"] = parse_json(data, "data")
            return obj
        except InvalidEvent:
            pass
    else:
        codec = text_codec(canonical_string(content_type))
        if codec is not None:
            # Byte-order marks and the like can make a decode irreversible; keep such bytes.
            # UnicodeError, not only UnicodeDecodeError: the idna codec raises the base class.
            try:
                text = data.decode(codec)
                if codec == "utf-8" or text.encode(codec) == data:
                    obj["data"] = text
                    return obj
            except UnicodeError:
                pass
    obj["data_base64"] = base64.b64encode(data).decode("ascii")
    return obj
