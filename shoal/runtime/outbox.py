"""Turning a handler's `Emit`s into the outbox: CloudEvents in the JSON format, ready to publish.

Everything that makes a retried invocation emit the same events is decided here: the ids
(`ids.emitted_event_id`), the source (`/shoal/<function>`), and the time (the invocation's
clock, recorded with the outbox, so a redelivery re-publishes the very same events). The input
event's `knativebrokerttl` is carried over, so that events a function POSTs to the broker count
down the loop guard exactly as a reply would (Knative data plane, "Broker ingress": TTL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from shoal.runtime.event import Emit, Event
from shoal.runtime.ids import emitted_event_id
from shoal.runtime.wire import CORE, JSON
from shoal.state import Outbox

TTL_EXTENSION = "knativebrokerttl"
# CloudEvents core spec, "Attribute Naming Convention".
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")


def rfc3339(moment: datetime) -> str:
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


def build_outbox(
    function: str, source: str, event: Event, emitted: Sequence[Emit], now: datetime
) -> Outbox:
    """The JSON-format events `function` (emitting as `source`) sends for `emitted`."""
    time = rfc3339(now)
    ttl = event.extensions.get(TTL_EXTENSION)
    outbox: Outbox = []
    for index, emit in enumerate(emitted):
        entry: dict[str, object] = {
            "specversion": "1.0",
            "id": emitted_event_id(function, event.source, event.id, index),
            "source": source,
            "type": emit.type,
            "time": time,
        }
        if emit.subject is not None:
            entry["subject"] = emit.subject
        for name, value in sorted(emit.extensions.items()) if emit.extensions else ():
            if name in CORE or name == TTL_EXTENSION or not _EXTENSION_NAME.fullmatch(name):
                raise ValueError(
                    f"{function} emitted {emit.type} with extension {name!r}: extension names "
                    "are 1-20 lower-case letters or digits and not a core attribute"
                )
            entry[name] = value
        if ttl is not None:
            entry[TTL_EXTENSION] = ttl
        if emit.data is not None:
            entry["datacontenttype"] = JSON
            entry["data"] = dict(emit.data)
        outbox.append(entry)
    return outbox
