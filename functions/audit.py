"""audit: record every `dev.shoal.*` event but heartbeats in the state store, as an `AuditEntry`.

The audit trail is what `shoal get AuditEntry` shows and what the tutorial's first look at the
system reads. Entries are named `<received time>-<hash of source and id>`, so listing them
(ordered by name) gives them in the order they were handled; labels `type` and `subject` (when
the event has one) select them. The entry keeps the event's attributes, its extensions
(including the broker's `knativearrivaltime`) and its data (`data_base64` when not JSON).
Emits nothing.
"""

from __future__ import annotations

import base64
import hashlib

from shoal import events
from shoal.runtime import Context, Emit, Event, Subscription, exact, function, not_, prefix

KIND = "AuditEntry"


def entry_name(event: Event, received: str) -> str:
    return f"{received}-{entry_suffix(event.source, event.id)}"


def entry_suffix(source: str, event_id: str) -> str:
    """What ends the name of the entry of the event (source, id): a hash of both."""
    return hashlib.sha256(f"{source}\0{event_id}".encode()).hexdigest()[:12]


# Heartbeats are left out: a thousand nodes beat every second, which would double the state
# store's writes for a record nobody reads (the Node record already keeps the last one).
AUDITED = Subscription(
    filters=[prefix(type=events.SHOAL_TYPE_PREFIX), not_(exact(type=events.NODE_HEARTBEAT))]
)


@function(subscriptions=[AUDITED])
def audit(event: Event, ctx: Context) -> list[Emit]:
    received = ctx.now().strftime("%Y%m%dT%H%M%S.%fZ")
    body: dict[str, object] = {
        "type": event.type,
        "source": event.source,
        "id": event.id,
        "subject": event.subject,
        "time": event.time,
        "received": received,
        "extensions": dict(event.extensions),
    }
    if isinstance(event.data, bytes):
        body["data_base64"] = base64.b64encode(event.data).decode("ascii")
    else:
        body["data"] = event.data
    labels = {"type": event.type}
    if event.subject is not None:
        labels["subject"] = event.subject
    ctx.state.put(KIND, entry_name(event, received), body, expected_version=0, labels=labels)
    return []
