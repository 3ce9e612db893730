"""The CloudEvents HTTP protocol binding 1.0.2: (headers, body) <-> CloudEvent, no web framework.

The content mode comes from Content-Type (http-protocol-binding.md section 3):
`application/cloudevents+json` is structured, `application/cloudevents-batch+json` is batched,
any other `application/cloudevents...` is an event format this broker does not support (an
error, where the spec would also allow forwarding it as binary), and anything else is binary:
ce- headers carry the attributes and Content-Type carries datacontenttype (3.1.1). A structured
message may repeat attributes in ce- headers (3.2.3); they are ignored.

Binary mode carries strings only: an integer or boolean extension is sent as its canonical
string (core spec, Type System) and comes back as that string. Otherwise encoding then decoding
gives the same event in either mode, except that an empty data becomes no data in binary mode
and JSON data is normalized to its compact form in structured mode.

Header names are matched case-insensitively, so `headers` can be aiohttp's CIMultiDictProxy or
a plain dict of any case.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import ClassVar, Final, Literal

from local_broker.attributes import BindingError, InvalidEvent, validate_attributes
from local_broker.event import AttributeValue, CloudEvent, canonical_string
from local_broker.headers import HeaderValueError, decode_header_value, encode_header_value
from local_broker.jsonformat import dump_json, event_from_json, event_to_json, parse_json

__all__ = [
    "BATCH_MEDIA_TYPE",
    "STRUCTURED_CONTENT_TYPE",
    "STRUCTURED_MEDIA_TYPE",
    "BindingError",
    "InvalidEvent",
    "UnsupportedFormat",
    "decode_reply",
    "decode_request",
    "encode_binary",
    "encode_structured",
]

STRUCTURED_MEDIA_TYPE: Final = "application/cloudevents+json"
BATCH_MEDIA_TYPE: Final = "application/cloudevents-batch+json"
STRUCTURED_CONTENT_TYPE: Final = f"{STRUCTURED_MEDIA_TYPE}; charset=utf-8"
_CE_PREFIX: Final = "ce-"
_MODES_HINT: Final = (
    "send ce-specversion, ce-id, ce-source and ce-type headers (binary mode), or a JSON body "
    f"with Content-Type {STRUCTURED_MEDIA_TYPE} (structured mode)"
)

_Mode = Literal["binary", "structured", "batch", "unsupported"]


class UnsupportedFormat(BindingError):  # noqa: N818 - the name callers and docs use
    """A CloudEvents event format (`application/cloudevents+avro`, ...) other than JSON."""

    http_status: ClassVar[int] = 415

    def __init__(self, media_type: str) -> None:
        super().__init__(media_type)
        self.media_type = media_type

    def __str__(self) -> str:
        return (
            f"Content-Type {self.media_type!r} names a CloudEvents event format this broker "
            f"does not support; use {STRUCTURED_MEDIA_TYPE}, {BATCH_MEDIA_TYPE}, or binary mode."
        )


def decode_request(headers: Mapping[str, str], body: bytes) -> list[CloudEvent]:
    """The events of a request in any content mode; raises BindingError subclasses.

    A batch gives every event in it, none when it is `[]`; an invalid one fails the whole batch
    with InvalidEvent naming its index.
    """
    content_type, ce_headers = _scan(headers)
    mode = _mode(content_type) if content_type else "binary"
    if mode == "structured":
        return [event_from_json(parse_json(body, "the request body"))]
    if mode == "batch":
        return _decode_batch(body)
    if mode == "unsupported":
        raise UnsupportedFormat(content_type or "")
    if not ce_headers:
        raise InvalidEvent(None, f"the request is not a CloudEvent: {_MODES_HINT}")
    return [_decode_binary(ce_headers, content_type, body)]


def decode_reply(headers: Mapping[str, str], body: bytes) -> CloudEvent | None:
    """The event a subscriber's 2xx response carries, or None when it carries none.

    A response without ce- headers, without a body and not in structured mode is no reply.
    Anything else must be one event in binary or structured mode, or InvalidEvent is raised.
    """
    content_type, ce_headers = _scan(headers)
    mode = _mode(content_type) if content_type else "binary"
    if mode == "unsupported":
        raise UnsupportedFormat(content_type or "")
    try:
        if mode == "structured":
            return event_from_json(parse_json(body, "the body"))
        if mode == "batch":
            raise InvalidEvent(None, "a reply is a single event, not a batch")
        if not ce_headers:
            if not body:
                return None
            raise InvalidEvent(
                None,
                "it has a body but no ce- headers, and its Content-Type is not "
                f"{STRUCTURED_MEDIA_TYPE}",
            )
        return _decode_binary(ce_headers, content_type, body)
    except InvalidEvent as error:
        reason = f"the response is not a CloudEvent: {error.reason}"
        raise InvalidEvent(error.attribute, reason) from None


def encode_binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Binary mode (3.1): ce- headers, datacontenttype as Content-Type, data as the body.

    An event without datacontenttype gets no Content-Type header (3.1.1 maps the two one to
    one); a sender that adds a default Content-Type changes the event's datacontenttype.
    """
    headers: dict[str, str] = {}
    for name, value in event.attributes.items():
        text = value if isinstance(value, str) else canonical_string(value)
        if name == "datacontenttype":
            headers["Content-Type"] = text
        else:
            headers[_CE_PREFIX + name] = encode_header_value(text)
    return headers, event.data if event.data is not None else b""


def encode_structured(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Structured mode (3.2) with the JSON event format."""
    return {"Content-Type": STRUCTURED_CONTENT_TYPE}, dump_json(event_to_json(event))


def _scan(headers: Mapping[str, str]) -> tuple[str | None, list[tuple[str, str]]]:
    """Content-Type and the (attribute name, raw value) of each ce- header, in one pass."""
    content_type: str | None = None
    ce_headers: list[tuple[str, str]] = []
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(_CE_PREFIX):
            ce_headers.append((lowered[3:], value))
        elif lowered == "content-type" and content_type is None:
            content_type = value
    return content_type, ce_headers


@lru_cache(maxsize=256)
def _mode(content_type: str) -> _Mode:
    """Section 3: the media type, compared without parameters and case, picks the mode."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == STRUCTURED_MEDIA_TYPE:
        return "structured"
    if media_type == BATCH_MEDIA_TYPE:
        return "batch"
    if media_type.startswith("application/cloudevents"):
        return "unsupported"
    return "binary"


def _decode_batch(body: bytes) -> list[CloudEvent]:
    batch = parse_json(body, "the request body")
    if not isinstance(batch, list):
        raise InvalidEvent(
            None, f"a {BATCH_MEDIA_TYPE} body is a JSON array of events (json-format 4.1)"
        )
    events = [event_from_json(item, index) for index, item in enumerate(batch)]
    if events:
        # 3.3.2: all events of a batch have the same specversion.
        first = events[0].attributes["specversion"]
        for index, event in enumerate(events):
            if event.attributes["specversion"] != first:
                raise InvalidEvent(
                    "specversion",
                    f"all events of a batch must have one specversion; event 0 has {first!r} "
                    f"and this one {event.attributes['specversion']!r}",
                    index,
                )
    return events


def _decode_binary(
    ce_headers: list[tuple[str, str]], content_type: str | None, body: bytes
) -> CloudEvent:
    attributes: dict[str, AttributeValue] = {}
    for name, value in ce_headers:
        if name in attributes:
            raise InvalidEvent(name, f"the header ce-{name} appears more than once")
        try:
            attributes[name] = decode_header_value(value)
        except HeaderValueError as error:
            raise InvalidEvent(name, f"the value of header ce-{name} {error}") from None
    if content_type:
        if "datacontenttype" in attributes:
            raise InvalidEvent(
                "datacontenttype",
                "binary mode carries datacontenttype in the Content-Type header only; "
                "drop the ce-datacontenttype header (http-protocol-binding 3.1.1)",
            )
        attributes["datacontenttype"] = content_type
    validate_attributes(attributes)
    return CloudEvent(attributes, body or None)
