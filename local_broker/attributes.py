"""CloudEvents context attributes: the rules every mode and format shares, and the errors that
name the attribute at fault (CloudEvents core spec 1.0.2, "Context Attributes" and "Type System";
spec 0.3 for events that still use it). `local_broker.jsonformat` and `local_broker.binding`
raise these errors; the ingress answers them with 400 and their JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import ClassVar, Final

from local_broker.event import REQUIRED_ATTRIBUTES, AttributeValue
from local_broker.headers import has_disallowed_character

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


def shown(value: object, limit: int = 60) -> str:
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
            f'specversion {shown(specversion)} is not supported; use "1.0" (or "0.3")',
        )
    for name in REQUIRED_ATTRIBUTES:
        value = attributes.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidEvent(name, _missing(name) if value is None else _not_string(name, value))
    for name in optional_strings:
        value = attributes.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidEvent(name, _not_string(name, value))
    content_type = attributes.get("datacontenttype")
    if isinstance(content_type, str) and not is_media_type_text(content_type):
        raise InvalidEvent(
            "datacontenttype",
            f"datacontenttype {shown(content_type)} (the Content-Type header in binary mode) "
            "must be a media type, which is printable ASCII (RFC 2045 section 5.1, as the core "
            "spec requires of datacontenttype); percent-encode anything else in a parameter",
        )
    time = attributes.get("time")
    if isinstance(time, str) and not is_rfc3339(time):
        raise InvalidEvent(
            "time",
            f"time {shown(time)} is not an RFC 3339 timestamp; "
            "write it like 2024-05-01T12:00:00Z or 2024-05-01T14:00:00.5+02:00",
        )
    encoding = attributes.get("datacontentencoding")
    if specversion == "0.3" and isinstance(encoding, str) and not is_base64(encoding):
        raise InvalidEvent(
            "datacontentencoding",
            f"datacontentencoding {shown(encoding)} is not supported; the only value is base64",
        )


def is_media_type_text(value: str) -> bool:
    """Only printable ASCII, spaces and tabs: the characters of an RFC 2045 Content-Type.

    It keeps what goes out as a Content-Type header encodable (RFC 9110 section 5.5)."""
    return value.isascii() and value.replace("\t", " ").isprintable()


def attribute_value(name: str, value: object) -> AttributeValue:
    """`value` if attribute `name` may hold it, else InvalidEvent naming it.

    Core spec 1.0.2, "Type System" (and json-format 2.2 for how each is written): a String holds
    no control characters (U+0000 to U+001F, U+007F to U+009F) and no surrogate code points; an
    Integer is a 32-bit signed whole number; a Boolean is true or false.
    """
    if isinstance(value, str):
        # Printable text holds neither controls nor surrogates: most values stop at this test.
        if not value.isprintable() and has_disallowed_character(value):
            raise InvalidEvent(
                name, f"attribute '{name}' contains a control character or a lone surrogate"
            )
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INTEGER_MIN <= value <= INTEGER_MAX:
            raise InvalidEvent(
                name,
                f"attribute '{name}' is {value}, outside the CloudEvents Integer range "
                f"{INTEGER_MIN} to {INTEGER_MAX}; send larger numbers as a string",
            )
        return value
    raise InvalidEvent(
        name,
        f"attribute '{name}' is {shown(value)}, which is {_value_kind(value)}; attribute values "
        "must be a string, a whole number or a boolean (json-format 2.2), so put structured "
        "values in data or send them as a string",
    )


def _value_kind(value: object) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, float):
        return "not a whole number (only whole numbers are CloudEvents Integers)"
    return f"a {type(value).__name__}"


def _check_name(name: str) -> None:
    # Core spec "Naming Conventions": lowercase ASCII letters and digits. "data" would clash
    # with the data member of the JSON format.
    if name.isalnum() and name.isascii() and (name.islower() or name.isdigit()) and name != "data":
        if len(_VALID_NAMES) < _VALID_NAMES_LIMIT:
            _VALID_NAMES.add(name)
        return
    raise InvalidEvent(
        name,
        f"the attribute name {shown(name)} is not valid; names are lowercase letters "
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
    return f"attribute '{name}' must be a string, not {shown(value)}"


def is_base64(encoding: AttributeValue | None) -> bool:
    # RFC 2045 section 6.1: encoding names are case-insensitive.
    return isinstance(encoding, str) and encoding.lower() == "base64"


def has_base64_data(attributes: Mapping[str, AttributeValue]) -> bool:
    """Spec 0.3 only: `datacontentencoding: base64` makes data a base64 string in JSON."""
    return attributes.get("specversion") == "0.3" and is_base64(
        attributes.get("datacontentencoding")
    )
