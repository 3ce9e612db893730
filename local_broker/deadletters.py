"""The broker's own dead-letter store: events that exhausted their retries and had no sink.

Knative drops such an event; the local broker keeps it next to the log (same file, same group
commit) so `shoal events --dead` can show what was lost and why.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from local_broker.event import CloudEvent
from local_broker.groupcommit import WriteOp
from local_broker.logschema import decode_event, encode_event


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An undeliverable event: which trigger gave up, why, the last HTTP status (if any), when.

    `id` is assigned by the store (increasing); leave it 0 when adding.
    """

    trigger: str
    event: CloudEvent
    reason: str
    status: int | None
    at: float
    id: int = 0


class AddDeadLetter(WriteOp[int]):
    """Store one dead letter; the result is its id."""

    def __init__(self, letter: DeadLetter) -> None:
        encoded = encode_event(letter.event)  # on the caller's side: a bad event fails alone
        self._row = (
            letter.trigger,
            encoded.attributes_json,
            encoded.event.data,
            letter.reason,
            letter.status,
            letter.at,
        )

    def apply(self, conn: sqlite3.Connection) -> int:
        cursor = conn.execute(
            "INSERT INTO dead_letters (trigger_key, attributes, data, reason, status, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            self._row,
        )
        assert cursor.lastrowid is not None  # an INSERT into a rowid table always sets it
        return cursor.lastrowid


def read_dead_letters(
    conn: sqlite3.Connection, limit: int, after_id: int, *, newest: bool = False
) -> list[DeadLetter]:
    """Dead letters with ids above `after_id`, oldest first: the first `limit`, or with
    `newest` the last `limit`."""
    order = "DESC" if newest else "ASC"
    rows = conn.execute(
        "SELECT id, trigger_key, attributes, data, reason, status, at FROM dead_letters"
        f" WHERE id > ? ORDER BY id {order} LIMIT ?",
        (after_id, max(0, limit)),
    ).fetchall()
    if newest:
        rows.reverse()
    return [
        DeadLetter(trigger, decode_event(attributes, data), reason, status, at, letter_id)
        for letter_id, trigger, attributes, data, reason, status, at in rows
    ]
