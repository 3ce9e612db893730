"""Deterministic ids for emitted events.

An emitted event's id is derived from the function, the input event's (source, id) and the
event's position in the handler's result, so a retried invocation that runs the handler again
(its first attempt rolled back) emits events with the same ids, and the broker's deduplication
on (source, id) drops copies that were already accepted.
"""

from __future__ import annotations

import uuid

# uuid5(NAMESPACE_URL, "https://shoal.dev/emitted-event"): fixed forever, ids depend on it.
EMITTED_EVENT_NAMESPACE = uuid.UUID("8078e1a5-0975-54aa-8797-e5b7f4ca2f55")


def emitted_event_id(function: str, source: str, event_id: str, index: int) -> str:
    """The id of the `index`-th event `function` emits when handling event (source, event_id)."""
    # NUL cannot occur in a CloudEvents string attribute, so the joined name is unambiguous.
    name = "\0".join((function, source, event_id, str(index)))
    return str(uuid.uuid5(EMITTED_EVENT_NAMESPACE, name))
