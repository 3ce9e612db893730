"""Deterministic ids for emitted events.

An emitted event's id is derived from the function, the input event's (source, id) and the
event's position in the handler's result, so a retried invocation that runs the handler again
(its first attempt rolled back) emits events with the same ids, and the broker's deduplication
on (source, id) drops copies that were already accepted.

The id is `uuid.uuid5(EMITTED_EVENT_NAMESPACE, name)` (RFC 9562, section 5.5), computed here
with the namespace's SHA-1 state prepared once: `uuid.uuid5` costs about three times as much,
and every emitted event pays it.
"""

from __future__ import annotations

import hashlib
import uuid

# uuid5(NAMESPACE_URL, "https://shoal.dev/emitted-event"): fixed forever, ids depend on it.
EMITTED_EVENT_NAMESPACE = uuid.UUID("8078e1a5-0975-54aa-8797-e5b7f4ca2f55")
_NAMESPACE_HASH = hashlib.sha1(EMITTED_EVENT_NAMESPACE.bytes, usedforsecurity=False)


def emitted_event_id(function: str, source: str, event_id: str, index: int) -> str:
    """The id of the `index`-th event `function` emits when handling event (source, event_id)."""
    # NUL cannot occur in a CloudEvents string attribute (core spec, "Type System"; the runtime
    # refuses such an event with 400), so the joined name is unambiguous; say so if it did.
    if "\0" in source or "\0" in event_id:
        raise ValueError(
            f"event ({source!r:.80}, {event_id!r:.80}) holds NUL, which CloudEvents forbids"
        )
    name = "\0".join((function, source, event_id, str(index)))
    digest = _NAMESPACE_HASH.copy()
    digest.update(name.encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
