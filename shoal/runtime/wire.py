"""CloudEvents on the wire: a request -> `Event`, and emitted events <-> HTTP messages.

Binary mode with specversion 1.0, what every Trigger delivers, is read directly (the hot
path); binary mode of spec 0.3 goes through the cloudevents SDK, and structured mode through
`shoal.runtime.structured` (the JSON format as the broker reads it). ce- header values are
decoded as the broker decodes them (HTTP protocol binding 3.1.3.2, which the SDK skips):
percent-decoded, and the bytes must then be UTF-8 holding no control character. The SDK's
defaults for a missing `time` or `id` never apply, because the event is built from exactly the
attributes that arrived. Batched mode is refused: a Trigger delivers one event per request.
Whatever cannot be read (broken JSON, nested too deeply, not UTF-8) is a `NotACloudEventError`.

Emitted events are kept in the JSON event format (a dict) from the moment they are built:
that is what the outbox records and what is published (structured mode). A reply goes out in
binary mode, as Knative's reply contract expects.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from cloudevents import abstract
from cloudevents.conversion import from_http
from cloudevents.exceptions import GenericException

from local_broker.attributes import InvalidEvent, validate_attributes
from local_broker.headers import HeaderValueError, decode_header_value
from local_broker.jsonformat import parse_json
from shoal.runtime.errors import NotACloudEventError
from shoal.runtime.event import Event
from shoal.runtime.structured import read_structured

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
REQUIRED = ("specversion", "id", "source", "type")
_REQUIRED_HEADERS = tuple(f"ce-{name}" for name in REQUIRED)
CORE = frozenset((*REQUIRED, "subject", "time", "datacontenttype", "dataschema", "data"))
# Binary mode: printable ASCII except space, '"' and '%' travels as is; the rest is %-encoded.
_HEADER_SAFE = "".join(c for c in string.printable[:94] if c not in '"%')
# One encoder for every event: `json.dumps` with options builds a new one on each call. NaN and
# the infinities are not JSON (RFC 8259 section 6): no broker would take them.
_EVENT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_HINT = (
    "send ce-specversion, ce-id, ce-source and ce-type headers (binary mode), or a JSON "
    f"event with Content-Type {STRUCTURED} (structured mode)"
)


class _Parsed(abstract.CloudEvent):
    """The SDK's extension point: receives exactly the attributes and data it parsed."""

    def __init__(self, attributes: Mapping[str, Any], data: Any) -> None:
        self.attributes = dict(attributes)
        self.data = data

    @classmethod
    def create(cls, attributes: Mapping[str, Any], data: Any) -> _Parsed:
        return cls(attributes, data)

    def _get_attributes(self) -> dict[str, Any]:
        return self.attributes

    def get_data(self) -> Any:
        return self.data


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").partition(";")[0].strip().lower()
    return media == JSON or media.endswith("+json")


def parse_request(headers: Mapping[str, str], body: bytes, *, names_lowered: bool = False) -> Event:
    """The event in a request; NotACloudEventError (with what to fix) when there is none.

    `names_lowered=True` says every header name is already lower-case (as `request_headers`
    makes them), which saves copying the headers once more."""
    lowered = headers if names_lowered else {name.lower(): value for name, value in headers.items()}
    media = _media_type(lowered)
    if media == BATCH:
        raise NotACloudEventError(
            f"batched mode ({BATCH}) is not accepted: send one event per request"
        )
    if media == STRUCTURED:
        try:
            attributes, data = read_structured(body)
        except InvalidEvent as error:
            raise NotACloudEventError(f"the request is not a valid CloudEvent: {error}") from None
        return _make_event(attributes, data)
    missing = [name for name in _REQUIRED_HEADERS if name not in lowered]
    if missing:
        named = ", ".join(missing)
        raise NotACloudEventError(f"the request is not a CloudEvent (missing {named}): {_HINT}")
    if lowered["ce-specversion"] == "1.0":
        return _binary_event(lowered, body)
    return parse_with_sdk(lowered, body)


def parse_with_sdk(headers: Mapping[str, str], body: bytes) -> Event:
    """A binary-mode request read through the cloudevents SDK: specversion 0.3, and the
    reference that the binary-mode hot path is tested against."""
    lowered = {name.lower(): value for name, value in headers.items()}
    decoded = dict(lowered)
    for name, value in _header_attributes(lowered).items():
        decoded[f"ce-{name}"] = value
    try:
        parsed = from_http(_Parsed, decoded, body, lambda data: data)
    except (GenericException, ValueError, RecursionError) as error:
        raise NotACloudEventError(
            f"the request is not a valid CloudEvent ({error}): {_HINT}"
        ) from None
    return _event(parsed.attributes, parsed.data)


def _media_type(lowered: Mapping[str, str]) -> str:
    return lowered.get("content-type", "").partition(";")[0].strip().lower()


def _binary_event(lowered: Mapping[str, str], body: bytes) -> Event:
    """Binary mode, specversion 1.0 (what a Trigger delivers): the SDK's result, made directly.

    Every `ce-` header is an attribute (HTTP binding 3.1.3.1), its value decoded (3.1.3.2);
    Content-Type is `datacontenttype` (3.1.1); the body is the data (3.1.2).
    """
    attributes = _header_attributes(lowered)
    content_type = lowered.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return _event(attributes, body)


def _header_attributes(lowered: Mapping[str, str]) -> dict[str, str]:
    """The attributes the ce- headers carry. HTTP binding 3.1.3.2: a value is percent-decoded,
    and the decoded bytes must be UTF-8; core spec "Type System": no control characters. Without
    the first rule distinct ids (`%FF`, `%FE`) would decode alike and look like one event."""
    attributes: dict[str, str] = {}
    for name, value in lowered.items():
        if name[:3] == "ce-":
            try:
                attributes[name[3:]] = decode_header_value(value)
            except HeaderValueError as error:
                raise NotACloudEventError(
                    f"the request is not a valid CloudEvent: the value of header {name} {error} "
                    "(HTTP binding 3.1.3.2: percent-encode UTF-8, and no control characters)"
                ) from None
    return attributes


def _event(attributes: Mapping[str, Any], body: Any) -> Event:
    """A binary-mode event: `body` is the data, JSON when the content type says so."""
    # The rules the broker's ingress applies (CloudEvents core spec 1.0.2, "Context Attributes"
    # and "Naming Conventions"): required attributes, names, an RFC 3339 `time`. Events that
    # came through a broker pass them already; a request sent straight to the function may not.
    try:
        validate_attributes(attributes)
    except InvalidEvent as error:
        raise NotACloudEventError(f"the request is not a valid CloudEvent: {error}") from None
    data: object = None
    if body:
        try:
            json_data = is_json(attributes.get("datacontenttype"))
            # The broker's JSON reading: UTF-8, no NaN, no number beyond a double, not too deep.
            data = parse_json(body, "the event's data") if json_data else body
        except InvalidEvent as error:
            raise NotACloudEventError(error.reason) from None
    return _make_event(attributes, data)


def _make_event(attributes: Mapping[str, Any], data: object) -> Event:
    return Event(
        id=attributes["id"],
        source=attributes["source"],
        type=attributes["type"],
        specversion=attributes["specversion"],
        subject=attributes.get("subject"),
        time=attributes.get("time"),
        datacontenttype=attributes.get("datacontenttype"),
        data=data,
        extensions={k: v for k, v in attributes.items() if k not in CORE},
    )


def encode_event(event: Mapping[str, object]) -> bytes:
    """One event in the JSON event format: a structured-mode body, or one item of a batch."""
    return _EVENT_ENCODER.encode(event).encode()


def structured_message(event: Mapping[str, object]) -> tuple[dict[str, str], bytes]:
    """Structured mode: the JSON event format as the body."""
    return {"Content-Type": STRUCTURED}, encode_event(event)


def binary_message(event: Mapping[str, object]) -> tuple[dict[str, str], bytes]:
    """Binary mode: attributes as ce- headers, `datacontenttype` as Content-Type, data as body."""
    headers: dict[str, str] = {}
    for name, value in event.items():
        if name == "datacontenttype":
            headers["Content-Type"] = str(value)
        elif name != "data":
            text = value if isinstance(value, str) else json.dumps(value)
            headers[f"ce-{name}"] = quote(text, safe=_HEADER_SAFE)
    body = b"" if "data" not in event else json.dumps(event["data"]).encode()
    return headers, body
