"""The event log's SQLite file: connections, the versioned schema, and the row <-> event codec.

Durability rests on two pragmas (https://www.sqlite.org/pragma.html):

- `journal_mode=WAL`: a commit appends to the write-ahead log, and readers on their own connection
  keep a consistent snapshot while the writer commits ("readers do not block writers and a writer
  does not block readers", https://www.sqlite.org/wal.html).
- `synchronous=FULL`: "With synchronous=FULL in WAL mode, an additional sync operation of the WAL
  file happens after each transaction commit. The extra WAL sync following each transaction helps
  ensure that transactions are durable across a power loss." With NORMAL "a transaction committed
  in WAL mode ... might roll back following a power loss or system crash", which is not good enough
  for a 202 that promises delivery. (A SIGKILL alone loses nothing that reached write(); FULL is
  what covers a power cut or a kernel crash.)

The schema version lives in `PRAGMA user_version`; `MIGRATIONS[n]` takes a file from version n to
n + 1, so a file written by an older broker is upgraded in place and a newer one is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from local_broker import jsoncodec
from local_broker.event import AttributeValue, CloudEvent, canonical_string
from local_broker.logerrors import LogCorrupt, LogError, LogWriteFailed

# `events.seq` is AUTOINCREMENT so a sequence number is never reused, even after prune() has
# emptied the table: a trigger's cursor must never point past events that are not yet written
# (https://www.sqlite.org/autoinc.html). `type` is copied out of the attributes for read_range.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            arrival REAL NOT NULL,
            type TEXT NOT NULL,
            attributes TEXT NOT NULL,
            data BLOB
        )""",
        """CREATE TABLE dedup (
            source TEXT NOT NULL,
            id TEXT NOT NULL,
            accepted_at REAL NOT NULL,
            PRIMARY KEY (source, id)
        ) WITHOUT ROWID""",
        "CREATE INDEX dedup_by_accepted_at ON dedup (accepted_at)",
        "CREATE TABLE cursors (trigger_key TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID",
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            trigger_key TEXT NOT NULL,
            attributes TEXT NOT NULL,
            data BLOB,
            reason TEXT NOT NULL,
            status INTEGER,
            at REAL NOT NULL
        )""",
    ),
)

_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
MINIMUM_SQLITE = (3, 35, 0)  # RETURNING (https://www.sqlite.org/lang_returning.html)
# JSON keeps str, int and bool apart, and ensure_ascii (the default) escapes anything odd, so the
# round trip through the file is exact (jsoncodec.py).


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One committed event: its sequence number and when the log accepted it."""

    seq: int
    event: CloudEvent
    arrival: float


class EncodedEvent(NamedTuple):
    """An event prepared for the writer: a private copy plus the columns it is stored as.

    A NamedTuple, not a frozen dataclass: one is built per appended event, and a tuple is built
    twice as fast.
    """

    event: CloudEvent
    source: str
    id: str
    type: str
    attributes_json: str


def translate_error(
    error: Exception, doing: str, otherwise: type[LogError] = LogWriteFailed
) -> LogError:
    """The log error for a failure while `doing` something; damage is never retryable."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # extended codes keep the primary low byte
    if code in _DAMAGED:
        return LogCorrupt(f"{doing}: {error}; move the file aside and restart")
    return otherwise(f"{doing}: {error}")


def encode_event(event: CloudEvent, *, copy: bool = True) -> EncodedEvent:
    """Encode an event, with a private copy of it unless `copy` is False (the copy is what a
    memory tail keeps: the caller's event may change later); ValueError when it cannot be
    stored as it is."""
    attributes = dict(event.attributes) if copy else event.attributes
    source = _column(attributes, "source")
    event_id = _column(attributes, "id")
    event_type = _column(attributes, "type")
    data = event.data if event.data is None or type(event.data) is bytes else bytes(event.data)
    encoded = jsoncodec.encode(attributes)
    kept = CloudEvent(attributes, data) if copy or data is not event.data else event
    return EncodedEvent(kept, source, event_id, event_type, encoded)


def _column(attributes: Mapping[str, AttributeValue], name: str) -> str:
    value = attributes.get(name)
    if value is None:
        raise ValueError(f"the event has no {name!r} attribute")
    text = canonical_string(value)
    if not text.isascii():
        try:
            text.encode("utf-8")  # SQLite stores text as UTF-8: a lone surrogate cannot be bound
        except UnicodeEncodeError:
            raise ValueError(f"attribute {name!r} is not valid Unicode text") from None
    return text


def decode_event(attributes_json: str, data: bytes | None) -> CloudEvent:
    try:
        attributes = jsoncodec.decode(attributes_json)
    except ValueError as error:
        raise LogCorrupt(f"an event's attributes are not JSON: {error}") from error
    if not isinstance(attributes, dict):
        raise LogCorrupt("an event's attributes are not a JSON object")
    return CloudEvent(attributes, data)


def connect(path: Path, *, writer: bool) -> sqlite3.Connection:
    """Open the file; the writer connection also enables WAL and brings the schema up to date."""
    if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
        raise LogError(
            f"the event log needs SQLite {'.'.join(map(str, MINIMUM_SQLITE))} or newer (it uses"
            f" RETURNING); this Python has SQLite {sqlite3.sqlite_version}: use a newer Python"
        )
    conn: sqlite3.Connection | None = None
    try:
        # isolation_level=None: the writer issues BEGIN/COMMIT itself (one per group commit), and
        # readers run in autocommit so no read transaction stays open and pins the WAL.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        if writer:
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode != "wal":
                raise LogError(f"{path}: SQLite refused WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous=FULL")
            _migrate(conn, path)
        else:
            conn.execute("PRAGMA query_only=ON")
    except BaseException as error:
        if conn is not None:
            conn.close()
        if isinstance(error, sqlite3.Error):
            raise translate_error(error, f"opening the event log {path}", LogError) from error
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    for version, statements in enumerate(MIGRATIONS):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read inside the write transaction: another process may have just migrated.
            (current,) = conn.execute("PRAGMA user_version").fetchone()
            if current > len(MIGRATIONS):
                raise LogCorrupt(
                    f"{path} has log schema version {current}, newer than this broker supports"
                    f" ({len(MIGRATIONS)}); upgrade the broker or use another file"
                )
            if current == version:
                for statement in statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def read_records(
    conn: sqlite3.Connection,
    after: int,
    limit: int,
    *,
    upto: int,
    type_filter: str | None = None,
    newest: bool = False,
) -> list[LogRecord]:
    """Stored events with `after < seq <= upto` (and the exact type, if given), oldest first:
    the first `limit` of them, or with `newest` the last `limit`."""
    sql = "SELECT seq, arrival, attributes, data FROM events WHERE seq > ? AND seq <= ?"
    parameters: list[object] = [after, upto]
    if type_filter is not None:
        sql += " AND type = ?"
        parameters.append(type_filter)
    parameters.append(max(0, limit))
    order = "DESC" if newest else "ASC"
    rows = conn.execute(f"{sql} ORDER BY seq {order} LIMIT ?", parameters).fetchall()
    if newest:
        rows.reverse()
    return [
        LogRecord(seq, decode_event(attributes, data), arrival)
        for seq, arrival, attributes, data in rows
    ]
