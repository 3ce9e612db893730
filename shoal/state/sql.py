"""The SQL both backends share: one `Transaction` implementation over a three-method `Executor`.

Statements are written once, with `?` placeholders, in the SQL that SQLite and PostgreSQL both
accept (UPSERT and RETURNING); each backend's executor adapts the placeholders and translates its
driver's errors into `shoal.state.errors`. JSON travels as text in both directions, so bodies and
outboxes round-trip identically on both backends.

Labels live twice: as a JSON object in `resources.labels` (read with the resource) and as rows in
`resource_labels` (an index for selection, rewritten whenever the labels change).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

from shoal.state.errors import Conflict
from shoal.state.interface import JSONObject, Outbox, Resource

Row = tuple[Any, ...]


class Executor(Protocol):
    """Runs statements inside the current database transaction."""

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run a statement and return all of its rows."""
        ...

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run a statement and return how many rows it changed."""
        ...

    def execute_many(self, sql: str, params: Iterable[Sequence[object]]) -> None:
        """Run a statement once per parameter tuple."""
        ...


_RETURNING = " RETURNING version, body, labels"


# A \u0000 escape: preceded by an even number (maybe zero) of backslashes, which escape each other.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


# One encoder for every call: `json.dumps` with options builds a new one each time.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def dump_json(value: object) -> str:
    """Serialize what both backends can store: no NaN or infinities (not JSON) and no NUL
    characters in strings (PostgreSQL's jsonb cannot hold them)."""
    text = _ENCODER.encode(value)
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValueError("JSON strings must not contain NUL (\\u0000) characters")
    return text


class SQLTransaction:
    """`Transaction` over an `Executor`; the backend begins, commits and rolls back."""

    def __init__(self, executor: Executor, clock: Callable[[], float]) -> None:
        self._db = executor
        self._clock = clock

    def get(self, kind: str, name: str) -> Resource | None:
        rows = self._db.query(
            "SELECT version, body, labels FROM resources WHERE kind = ? AND name = ?", (kind, name)
        )
        return _resource(kind, name, *rows[0]) if rows else None

    def list(self, kind: str, *, label_selector: Mapping[str, str] | None = None) -> list[Resource]:
        sql = "SELECT name, version, body, labels FROM resources WHERE kind = ?"
        params: list[object] = [kind]
        for key, value in sorted((label_selector or {}).items()):
            sql += (
                " AND name IN (SELECT name FROM resource_labels"
                " WHERE kind = ? AND key = ? AND value = ?)"
            )
            params += [kind, key, value]
        rows = self._db.query(sql + " ORDER BY name", params)
        return [_resource(kind, *row) for row in rows]

    def put(
        self,
        kind: str,
        name: str,
        body: JSONObject,
        *,
        expected_version: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Resource:
        if expected_version is not None and expected_version < 0:
            raise ValueError(
                f"expected_version must be None, 0 or positive, not {expected_version}"
            )
        # Leaving `labels` out of the statement keeps the stored ones (the column defaults to {}).
        columns = {"body": dump_json(body)}
        if labels is not None:
            columns["labels"] = dump_json(labels)
        insert = (
            f"INSERT INTO resources (kind, name, version, {', '.join(columns)})"
            f" VALUES (?, ?, 1, {', '.join('?' for _ in columns)})"
        )
        if expected_version is None:
            sql = f"{insert} ON CONFLICT (kind, name) DO UPDATE SET version = resources.version + 1"
            sql += "".join(f", {column} = excluded.{column}" for column in columns)
            rows = self._db.query(sql + _RETURNING, [kind, name, *columns.values()])
        elif expected_version == 0:
            sql = f"{insert} ON CONFLICT (kind, name) DO NOTHING"
            rows = self._db.query(sql + _RETURNING, [kind, name, *columns.values()])
        else:
            sql = "UPDATE resources SET version = version + 1"
            sql += "".join(f", {column} = ?" for column in columns)
            sql += " WHERE kind = ? AND name = ? AND version = ?"
            rows = self._db.query(
                sql + _RETURNING, [*columns.values(), kind, name, expected_version]
            )
        if not rows:
            raise self._conflict(kind, name, expected_version)
        if labels is not None:
            self._index_labels(kind, name, labels)
        return _resource(kind, name, *rows[0])

    def delete(self, kind: str, name: str, *, expected_version: int | None = None) -> bool:
        if expected_version is not None and expected_version < 1:
            raise ValueError(f"expected_version must be None or positive, not {expected_version}")
        sql = "DELETE FROM resources WHERE kind = ? AND name = ?"
        params: list[object] = [kind, name]
        if expected_version is not None:
            sql += " AND version = ?"
            params.append(expected_version)
        if not self._db.execute(sql, params):
            if expected_version is not None:
                raise self._conflict(kind, name, expected_version)
            return False
        self._db.execute("DELETE FROM resource_labels WHERE kind = ? AND name = ?", (kind, name))
        return True

    def inbox_claim(self, function: str, source: str, event_id: str) -> Outbox | None:
        # A pure INSERT: it takes no predicate lock, so concurrent claims of distinct events never
        # conflict under SERIALIZABLE (see migration 2). A concurrent claim of the same event
        # waits for this transaction and then fails (40001, `Conflict`) or sees it committed.
        claimed = self._db.execute(
            "INSERT INTO inbox (function, source, event_id, recorded_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (function, source, event_id) DO NOTHING",
            (function, source, event_id, self._clock()),
        )
        if claimed:
            return None
        rows = self._db.query(
            "SELECT events FROM outbox WHERE function = ? AND source = ? AND event_id = ?",
            (function, source, event_id),
        )
        return cast(Outbox, json.loads(rows[0][0])) if rows else []

    def outbox_put(
        self, function: str, source: str, event_id: str, outbox: Sequence[JSONObject]
    ) -> None:
        if not outbox:
            return  # an inbox entry without an outbox row means "emitted nothing"
        recorded = self._db.execute(
            "INSERT INTO outbox (function, source, event_id, events) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (function, source, event_id) DO NOTHING",
            (function, source, event_id, dump_json(list(outbox))),
        )
        if not recorded:
            raise Conflict(f"the outbox of event {event_id!r} from {source!r} is already recorded")

    def inbox_get(self, function: str, source: str, event_id: str) -> Outbox | None:
        rows = self._db.query(
            "SELECT outbox.events FROM inbox LEFT JOIN outbox"
            " ON outbox.function = inbox.function AND outbox.source = inbox.source"
            " AND outbox.event_id = inbox.event_id"
            " WHERE inbox.function = ? AND inbox.source = ? AND inbox.event_id = ?",
            (function, source, event_id),
        )
        if not rows:
            return None
        return [] if rows[0][0] is None else cast(Outbox, json.loads(rows[0][0]))

    def inbox_put(
        self, function: str, source: str, event_id: str, outbox: Sequence[JSONObject]
    ) -> None:
        if self.inbox_claim(function, source, event_id) is not None:
            raise Conflict(
                f"event {event_id!r} from {source!r} is already in the inbox of {function!r}:"
                " a concurrent invocation recorded it first"
            )
        self.outbox_put(function, source, event_id, outbox)

    def prune_inbox(self, older_than_seconds: float) -> int:
        """Delete inbox entries recorded more than `older_than_seconds` ago (store-level API)."""
        cutoff = self._clock() - older_than_seconds
        self._db.execute(
            "DELETE FROM outbox WHERE EXISTS (SELECT 1 FROM inbox"
            " WHERE inbox.function = outbox.function AND inbox.source = outbox.source"
            " AND inbox.event_id = outbox.event_id AND inbox.recorded_at < ?)",
            (cutoff,),
        )
        return self._db.execute("DELETE FROM inbox WHERE recorded_at < ?", (cutoff,))

    def _index_labels(self, kind: str, name: str, labels: Mapping[str, str]) -> None:
        self._db.execute("DELETE FROM resource_labels WHERE kind = ? AND name = ?", (kind, name))
        self._db.execute_many(
            "INSERT INTO resource_labels (kind, name, key, value) VALUES (?, ?, ?, ?)",
            [(kind, name, key, value) for key, value in labels.items()],
        )

    def _conflict(self, kind: str, name: str, expected_version: int | None) -> Conflict:
        current = self.get(kind, name)
        found = f"version {current.version}" if current else "none"
        expected = "none" if expected_version == 0 else f"version {expected_version}"
        return Conflict(f"{kind}/{name}: expected {expected}, found {found}")


def _resource(kind: str, name: str, version: int, body: str, labels: str) -> Resource:
    return Resource(kind, name, version, json.loads(body), json.loads(labels))
