"""Structured mode: a request body in the CloudEvents JSON format (json-format 1.0.2, and spec 0.3)
read into attributes and the data a handler gets, as the broker's ingress reads it.

Attributes are the top-level members other than `data` and `data_base64`; `null` means absent
(section 2.2); each must be a string, a 32-bit integer or a boolean (`attribute_value`). The
data (section 3.1):

- `data_base64` (3.1.1), or spec 0.3's `data` with `datacontentencoding: base64`: the decoded
  bytes; a string that is not base64 (RFC 4648) is refused, and so is an event with both `data`
  and `data_base64`;
- `data` with a JSON datacontenttype (`*/json`, `*/*+json`) or none (3.1.2): the JSON value;
- `data` with any other datacontenttype: a string, encoded in the type's charset (UTF-8 when it
  names none) to the bytes the handler gets.

The body itself must be UTF-8 JSON (RFC 8259 section 8.1), without NaN or a number beyond a
double, read as `local_broker.jsonformat` reads it. Everything refused raises
`InvalidEvent`, which the caller answers with 400.
"""

from __future__ import annotations

from typing import Final

from local_broker.attributes import (
    InvalidEvent,
    attribute_value,
    has_base64_data,
    shown,
    validate_attributes,
)
from local_broker.event import AttributeValue
from local_broker.headers import is_json_content_type
from local_broker.jsonformat import (
    base64_member_bytes,
    data_base64_of,
    parse_json,
    text_data_bytes,
)

_DATA_MEMBERS: Final = frozenset({"data", "data_base64"})


def read_structured(body: bytes) -> tuple[dict[str, AttributeValue], object]:
    """(attributes, data) of a structured-mode body; data is None, a JSON value or bytes."""
    obj = _parse_body(body)
    attributes = {
        name: attribute_value(name, value)
        for name, value in obj.items()
        if name not in _DATA_MEMBERS and value is not None
    }
    validate_attributes(attributes)
    return attributes, _data(obj, attributes)


def _parse_body(body: bytes) -> dict[str, object]:
    # The broker's JSON reading: UTF-8 (RFC 8259 8.1), no NaN, no number beyond a double.
    obj = parse_json(body, "the body (structured mode)")
    if not isinstance(obj, dict):
        raise InvalidEvent(
            None, f"a CloudEvent in the JSON format is a JSON object, not {shown(obj)}"
        )
    return obj


def _data(obj: dict[str, object], attributes: dict[str, AttributeValue]) -> object:
    binary = data_base64_of(obj)
    if binary is not None:
        return binary
    data = obj.get("data")
    if data is None:
        return None
    if has_base64_data(attributes):
        return base64_member_bytes("data", data)
    content_type = attributes.get("datacontenttype")
    if content_type is None or is_json_content_type(str(content_type)):
        return data
    return text_data_bytes(data, str(content_type))
