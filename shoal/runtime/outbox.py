"""Turning a handler's `Emit`s into the outbox: CloudEvents in the JSON format, ready to publish.

Everything that makes a retried invocation emit the same events is decided here: the ids
(`ids.emitted_event_id`), the source (`/shoal/<function>`), and the time (the invocation's
clock, recorded with the outbox, so a redelivery re-publishes the very same events). The input
event's `knativebrokerttl` is carried over, so that events a function POSTs to the broker count
down the loop guard exactly as a reply would (Knative data plane, "Broker ingress": TTL).

Every event is checked before it is recorded, with the rules of the broker's ingress, so that
nothing is committed that the broker would refuse forever (each retry re-publishing the same
recorded outbox): the CloudEvents attribute rules (core spec 1.0.2, "Context Attributes" and
"Type System": a non-empty `type` and `subject`, extension values that are strings without
control characters, 32-bit integers or booleans) and the broker's size limit. A violation is an
`InvalidEmitError`: a handler failure, rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from local_broker.attributes import InvalidEvent, attribute_value
from local_broker.event import AttributeValue
from local_broker.stamping import TTL_ATTRIBUTE, next_ttl
from shoal.runtime.errors import InvalidEmitError
from shoal.runtime.event import Emit, Event
from shoal.runtime.ids import emitted_event_id
from shoal.runtime.wire import CORE, JSON, encode_event
from shoal.state import Outbox

TTL_EXTENSION = TTL_ATTRIBUTE
# The broker ingress refuses a larger request (413): the local broker's default, and what
# Knative's Kafka broker allows (its producers' max.request.size). One event in structured mode
# is exactly its JSON format, so this bounds that encoding.
MAX_EVENT_BYTES: Final = 1024 * 1024
# CloudEvents core spec, "Attribute Naming Convention".
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")


def rfc3339(moment: datetime) -> str:
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


def build_outbox(
    function: str, source: str, event: Event, emitted: Sequence[Emit], now: datetime
) -> Outbox:
    """The JSON-format events `function` (emitting as `source`) sends for `emitted`; raises
    InvalidEmitError for one the broker would refuse."""
    time = rfc3339(now)
    ttl = event.extensions.get(TTL_EXTENSION)
    outbox: Outbox = []
    for index, emit in enumerate(emitted):
        attributes: dict[str, AttributeValue] = {
            "specversion": "1.0",
            "id": emitted_event_id(function, event.source, event.id, index),
            "source": source,
            "type": emit.type,
            "time": time,
        }
        try:
            _add_attributes(attributes, emit, ttl)
        except InvalidEvent as error:
            raise InvalidEmitError(
                function, index, attributes, error.attribute, str(error)
            ) from None
        entry: dict[str, object] = dict(attributes)
        if emit.data is not None:
            entry["datacontenttype"] = JSON
            entry["data"] = dict(emit.data)
        _check_size(function, index, entry)
        outbox.append(entry)
    return outbox


def _add_attributes(attributes: dict[str, AttributeValue], emit: Emit, ttl: object) -> None:
    """The handler's attributes, checked; raises InvalidEvent naming the first bad one. The
    runtime's own (specversion, id, source, time) are valid by construction."""
    attributes["type"] = _non_empty_string("type", emit.type)
    if emit.subject is not None:
        attributes["subject"] = _non_empty_string("subject", emit.subject)
    for name, value in sorted(emit.extensions.items()) if emit.extensions else ():
        if name in CORE or name == TTL_EXTENSION or not _EXTENSION_NAME.fullmatch(name):
            raise InvalidEvent(
                name,
                f"extension {name!r}: extension names are 1-20 lower-case letters or digits "
                "and not a core attribute",
            )
        attributes[name] = attribute_value(name, value)
    if ttl is not None:
        attributes[TTL_EXTENSION] = attribute_value(TTL_EXTENSION, ttl)


def _non_empty_string(name: str, value: object) -> str:
    # Core spec, "Context Attributes": type is a non-empty String; so is subject when present.
    if not isinstance(value, str) or not value:
        raise InvalidEvent(
            name, f"attribute '{name}' must be a non-empty string, not {value!r:.60}"
        )
    attribute_value(name, value)
    return value


def _check_size(function: str, index: int, entry: dict[str, object]) -> None:
    try:
        size = len(encode_event(entry))
    except (TypeError, ValueError) as error:  # UnicodeEncodeError: a lone surrogate
        raise InvalidEmitError(
            function, index, entry, "data", f"data cannot be sent as JSON: {error}"
        ) from None
    if size > MAX_EVENT_BYTES:
        raise InvalidEmitError(
            function,
            index,
            entry,
            "data" if "data" in entry else None,
            f"the event is {size} bytes in the JSON format, more than the broker accepts "
            f"({MAX_EVENT_BYTES} bytes): put less in data",
        )


def exhausted_ttl(event: Event) -> object | None:
    """The input's `knativebrokerttl` when events carrying it would be refused, else None.

    The broker's ingress takes one off an integer TTL and refuses the event when that leaves
    nothing (Knative data plane, "Broker ingress"; `local_broker.stamping`), and drops a reply
    in that state rather than fail the delivery; emitted events go the same way. A TTL that is
    no CloudEvents Integer (core spec, "Type System": 32-bit signed, ASCII digits with an
    optional sign) is replaced by a fresh one there, so it is never exhausted.
    """
    ttl = event.extensions.get(TTL_EXTENSION)
    return ttl if ttl is not None and next_ttl(ttl) <= 0 else None
