"""The CloudEvents JSON event format (json-format.md 1.0.2) and the attribute rules of all modes.

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
absent (section 2.2). Attributes are kept as given: a missing datacontenttype is not filled in.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import date
from typing import ClassVar, Final

from local_broker.event import (
    REQUIRED_ATTRIBUTES,
    AttributeValue,
    CloudEvent,
    canonical_string,
)
from local_broker.headers import has_disallowed_character, is_json_content_type, text_codec

# CloudEvents core spec, "Type System": Integer is a 32-bit signed whole number.
INTEGER_MIN: Final = -(2**31)
INTEGER_MAX: Final = 2**31 - 1

# RFC 3339 section 5.6 date-time; the field ranges are in the pattern, the day of month is
# checked against the month only when it is past 28.
_RFC3339: Final = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?"  # 60: a leap second
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
# Per spec version: the optional attributes whose type is String, URI or URI-reference, which
# must not be empty when present. Other attributes are extensions of any type.
_OPTIONAL_1_0: Final = ("datacontenttype", "dataschema", "subject", "time")
_OPTIONAL_0_3: Final = ("datacontenttype", "datacontentencoding", "schemaurl", "subject", "time")
# Names known to be valid, so most events skip the character checks; grows up to a bound.
_VALID_NAMES: Final = {*REQUIRED_ATTRIBUTES, *_OPTIONAL_1_0, *_OPTIONAL_0_3}
_VALID_NAMES_LIMIT: Final = 4096
_DATA_MEMBERS: Final = frozenset({"data", "data_base64"})


class BindingError(Exception):
    """A request or response that cannot be read as CloudEvents; never worth retrying as is."""

    http_status: ClassVar[int] = 400

    def to_json(self) -> dict[str, object]:
        return {"error": str(self), "attribute": None, "index": None}


class InvalidEvent(BindingError):  # noqa: N818 - the name callers and docs use
    """An event that breaks a CloudEvents rule; `attribute` names the culprit when there is one.

    `index` is the position (from 0) of the event within a batch.
    """

    def __init__(self, attribute: str | None, reason: str, index: int | None = None) -> None:
        super().__init__(attribute, reason, index)
        self.attribute = attribute
        self.reason = reason
        self.index = index

    def __str__(self) -> str:
        prefix = "" if self.index is None else f"Event {self.index} of the batch: "
        sentence = f"{prefix}{self.reason}"
        return f"{sentence[:1].upper()}{sentence[1:]}."

    def to_json(self) -> dict[str, object]:
        return {"error": str(self), "attribute": self.attribute, "index": self.index}


def _shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def is_rfc3339(value: str) -> bool:
    """True for an RFC 3339 date-time (section 5.6), such as `2024-05-01T12:00:00.5+02:00`."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        return False
    year, month, day = match.groups()
    if day <= "28":
        return True
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def validate_attributes(attributes: Mapping[str, AttributeValue]) -> None:
    """Raise InvalidEvent unless `attributes` form a valid CloudEvents 1.0 or 0.3 context."""
    for name in attributes:
        if name not in _VALID_NAMES:
            _check_name(name)
    specversion = attributes.get("specversion")
    optional_strings: tuple[str, ...]
    if specversion == "1.0":
        optional_strings = _OPTIONAL_1_0
    elif specversion == "0.3":
        optional_strings = _OPTIONAL_0_3
    elif specversion is None:
        raise InvalidEvent("specversion", _missing("specversion"))
    else:
        raise InvalidEvent(
            "specversion",
            f'specversion {_shown(specversion)} is not supported; use "1.0" (or "0.3")',
        )
    for name in REQUIRED_ATTRIBUTES:
        value = attributes.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidEvent(name, _missing(name) if value is None else _not_string(name, value))
    for name in optional_strings:
        value = attributes.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidEvent(name, _not_string(name, value))
    time = attributes.get("time")
    if isinstance(time, str) and not is_rfc3339(time):
        raise InvalidEvent(
            "time",
            f"time {_shown(time)} is not an RFC 3339 timestamp; "
            "write it like 2024-05-01T12:00:00Z or 2024-05-01T14:00:00.5+02:00",
        )
    encoding = attributes.get("datacontentencoding")
    if specversion == "0.3" and isinstance(encoding, str) and not _is_base64(encoding):
        raise InvalidEvent(
            "datacontentencoding",
            f"datacontentencoding {_shown(encoding)} is not supported; the only value is base64",
        )


def _check_name(name: str) -> None:
    # Core spec "Naming Conventions": lowercase ASCII letters and digits. "data" would clash
    # with the data member of the JSON format.
    if name.isalnum() and name.isascii() and (name.islower() or name.isdigit()) and name != "data":
        if len(_VALID_NAMES) < _VALID_NAMES_LIMIT:
            _VALID_NAMES.add(name)
        return
    raise InvalidEvent(
        name,
        f"the attribute name {_shown(name)} is not valid; names are lowercase letters "
        "a-z and digits 0-9 only (and not 'data')",
    )


def _missing(name: str) -> str:
    return (
        f"the required attribute '{name}' is missing; "
        "every CloudEvent needs id, source, specversion and type"
    )


def _not_string(name: str, value: AttributeValue) -> str:
    if isinstance(value, str):
        return f"attribute '{name}' must not be empty"
    return f"attribute '{name}' must be a string, not {_shown(value)}"


def _is_base64(encoding: AttributeValue | None) -> bool:
    # RFC 2045 section 6.1: encoding names are case-insensitive.
    return isinstance(encoding, str) and encoding.lower() == "base64"


def _has_base64_data(attributes: Mapping[str, AttributeValue]) -> bool:
    """Spec 0.3 only: `datacontentencoding: base64` makes data a base64 string in JSON."""
    return attributes.get("specversion") == "0.3" and _is_base64(
        attributes.get("datacontentencoding")
    )


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)
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
    except (ValueError, RecursionError) as error:
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
        if isinstance(value, str):
            if has_disallowed_character(value):
                raise InvalidEvent(
                    name, f"attribute '{name}' contains a control character or a lone surrogate"
                )
        elif isinstance(value, int) and not isinstance(value, bool):
            if not INTEGER_MIN <= value <= INTEGER_MAX:
                raise InvalidEvent(
                    name,
                    f"attribute '{name}' is {value}, outside the CloudEvents Integer range "
                    f"{INTEGER_MIN} to {INTEGER_MAX}; send larger numbers as a string",
                )
        elif not isinstance(value, bool):
            raise InvalidEvent(
                name,
                f"attribute '{name}' is {_kind(value)}; attribute values must be a string, "
                "a whole number or a boolean (json-format 2.2), so put structured values in "
                "data or send them as a string",
            )
        attributes[name] = value
    validate_attributes(attributes)
    return CloudEvent(attributes, _data_from_json(obj, attributes))


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
    encoded = obj.get("data_base64")
    if encoded is not None:
        if "data" in obj:
            raise InvalidEvent(
                "data", "an event has either a data or a data_base64 member, not both"
            )
        return _base64_bytes("data_base64", encoded)
    if "data" not in obj:
        return None
    data = obj["data"]
    if _has_base64_data(attributes):
        return None if data is None else _base64_bytes("data", data)
    content_type = attributes.get("datacontenttype")
    if content_type is None or is_json_content_type(canonical_string(content_type)):
        # json-format 3.1.2: the data member is the JSON value itself; null is an explicit
        # null payload, distinct from no data.
        return dump_json(data)
    if data is None:
        return None
    if not isinstance(data, str):
        raise InvalidEvent(
            "data",
            f"datacontenttype {_shown(content_type)} is not JSON, so data must be a JSON string "
            f"(or base64 in data_base64), not {_kind(data)}",
        )
    codec = text_codec(canonical_string(content_type)) or "utf-8"
    try:
        return data.encode(codec)
    except UnicodeEncodeError:
        raise InvalidEvent(
            "data", f"data cannot be encoded as {codec}, the charset of its datacontenttype"
        ) from None


def _base64_bytes(member: str, value: object) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise InvalidEvent(member, f"{member} must be a base64 string (RFC 4648), not {_shown(value)}")


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
    if _has_base64_data(attributes):
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
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                text = None
            # Byte-order marks and the like can make a decode irreversible; keep such bytes.
            if text is not None and (codec == "utf-8" or text.encode(codec) == data):
                obj["data"] = text
                return obj
    obj["data_base64"] = base64.b64encode(data).decode("ascii")
    return obj
