"""CloudEvents on the wire: a request -> `Event`, and emitted events <-> HTTP messages.

Binary mode with specversion 1.0, what every Trigger delivers, is read directly (the hot
path); everything else goes through the cloudevents SDK (structured mode, spec 0.3), behind two
corrections: ce- header values are percent-decoded first (HTTP protocol binding 3.1.3.2, which
the SDK skips), and the SDK's defaults for a missing `time` or `id` never apply, because the
event is built from exactly the attributes that arrived. Batched mode is refused: a Trigger
delivers one event per request.

Emitted events are kept in the JSON event format (a dict) from the moment they are built:
that is what the outbox records and what is published (structured mode). A reply goes out in
binary mode, as Knative's reply contract expects.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from cloudevents import abstract
from cloudevents.conversion import from_http
from cloudevents.exceptions import GenericException

from local_broker.attributes import InvalidEvent, validate_attributes
from shoal.runtime.errors import NotACloudEventError
from shoal.runtime.event import Event

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
REQUIRED = ("specversion", "id", "source", "type")
_REQUIRED_HEADERS = tuple(f"ce-{name}" for name in REQUIRED)
CORE = frozenset((*REQUIRED, "subject", "time", "datacontenttype", "dataschema", "data"))
# Binary mode: printable ASCII except space, '"' and '%' travels as is; the rest is %-encoded.
_HEADER_SAFE = "".join(c for c in string.printable[:94] if c not in '"%')
# One encoder for every event: `json.dumps` with options builds a new one on each call.
_EVENT_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
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
    if media != STRUCTURED:
        missing = [name for name in _REQUIRED_HEADERS if name not in lowered]
        if missing:
            named = ", ".join(missing)
            raise NotACloudEventError(f"the request is not a CloudEvent (missing {named}): {_HINT}")
        if lowered["ce-specversion"] == "1.0":
            return _binary_event(lowered, body)
    return parse_with_sdk(lowered, body)


def parse_with_sdk(headers: Mapping[str, str], body: bytes) -> Event:
    """`parse_request` through the cloudevents SDK: structured mode and specversion 0.3, and the
    reference that the binary-mode hot path is tested against."""
    lowered = {name.lower(): value for name, value in headers.items()}
    structured = _media_type(lowered) == STRUCTURED
    if not structured:
        lowered = {
            name: unquote(value) if name.startswith("ce-") else value
            for name, value in lowered.items()
        }
    try:
        parsed = from_http(_Parsed, lowered, body, lambda data: data)
    except GenericException as error:
        raise NotACloudEventError(
            f"the request is not a valid CloudEvent ({error}): {_HINT}"
        ) from None
    return _event(parsed.attributes, parsed.data, structured=structured)


def _media_type(lowered: Mapping[str, str]) -> str:
    return lowered.get("content-type", "").partition(";")[0].strip().lower()


def _binary_event(lowered: Mapping[str, str], body: bytes) -> Event:
    """Binary mode, specversion 1.0 (what a Trigger delivers): the SDK's result, made directly.

    Every `ce-` header is an attribute (HTTP binding 3.1.3.1), its value percent-decoded
    (3.1.3.2); Content-Type is `datacontenttype` (3.1.1); the body is the data (3.1.2).
    """
    attributes = {
        name[3:]: unquote(value) if "%" in value else value  # `unquote` costs a call per header
        for name, value in lowered.items()
        if name[:3] == "ce-"
    }
    content_type = lowered.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return _event(attributes, body, structured=False)


def _event(attributes: Mapping[str, Any], data: Any, *, structured: bool) -> Event:
    # The rules the broker's ingress applies (CloudEvents core spec 1.0.2, "Context Attributes"
    # and "Naming Conventions"): required attributes, names, an RFC 3339 `time`. Events that
    # came through a broker pass them already; a request sent straight to the function may not.
    try:
        validate_attributes(attributes)
    except InvalidEvent as error:
        raise NotACloudEventError(f"the request is not a valid CloudEvent: {error}") from None
    content_type = attributes.get("datacontenttype")
    json_data = is_json(content_type) or (structured and content_type is None)
    try:
        return Event(
            id=attributes["id"],
            source=attributes["source"],
            type=attributes["type"],
            specversion=attributes["specversion"],
            subject=attributes.get("subject"),
            time=attributes.get("time"),
            datacontenttype=content_type,
            data=_decode_data(data, json_data=json_data, structured=structured),
            extensions={k: v for k, v in attributes.items() if k not in CORE},
        )
    except ValueError as error:
        raise NotACloudEventError(f"the event's data is not valid JSON: {error}") from None


def _decode_data(data: Any, *, json_data: bool, structured: bool) -> object:
    if data is None or data == b"":
        return None
    if isinstance(data, str):  # structured `data`, which the SDK hands over re-encoded as JSON
        value = json.loads(data)
        return value if json_data or not isinstance(value, str) else value.encode()
    # bytes: a binary-mode body, or structured `data_base64` (binary data, whatever its type)
    return json.loads(data) if json_data and not structured else data


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
