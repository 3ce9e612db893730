"""Versioned schema migrations, applied in order when a store opens.

`schema_version` holds one row per applied migration; migration N is `MIGRATIONS[N - 1]`.
Migrations are history: never edit one that has shipped, append a new one. Each backend runs
`migrate` inside one transaction that it has made exclusive first (SQLite: `BEGIN IMMEDIATE`;
PostgreSQL: a transaction-scoped advisory lock), so concurrent opens apply every migration once
and an open that fails half way leaves nothing behind.

The two dialects differ only in column types: JSON is `jsonb` on PostgreSQL and text on SQLite,
and names use the "C" collation on PostgreSQL so `ORDER BY name` is codepoint order, as on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shoal.state.errors import StateError
from shoal.state.sql import Executor

Dialect = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class Migration:
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        description="resources with labels, and the functions' inbox",
        sqlite=(
            """CREATE TABLE resources (
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                body TEXT NOT NULL,
                labels TEXT NOT NULL DEFAULT '{}',
                PRIMARY KEY (kind, name)
            )""",
            """CREATE TABLE resource_labels (
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (kind, name, key)
            )""",
            "CREATE INDEX resource_labels_by_label ON resource_labels (kind, key, value, name)",
            """CREATE TABLE inbox (
                function TEXT NOT NULL,
                source TEXT NOT NULL,
                event_id TEXT NOT NULL,
                outbox TEXT NOT NULL,
                recorded_at REAL NOT NULL,
                PRIMARY KEY (function, source, event_id)
            )""",
            "CREATE INDEX inbox_by_age ON inbox (recorded_at)",
        ),
        postgresql=(
            """CREATE TABLE resources (
                kind text NOT NULL,
                name text COLLATE "C" NOT NULL,
                version bigint NOT NULL,
                body jsonb NOT NULL,
                labels jsonb NOT NULL DEFAULT '{}',
                PRIMARY KEY (kind, name)
            )""",
            """CREATE TABLE resource_labels (
                kind text NOT NULL,
                name text COLLATE "C" NOT NULL,
                key text NOT NULL,
                value text NOT NULL,
                PRIMARY KEY (kind, name, key)
            )""",
            "CREATE INDEX resource_labels_by_label ON resource_labels (kind, key, value, name)",
            """CREATE TABLE inbox (
                function text NOT NULL,
                source text NOT NULL,
                event_id text NOT NULL,
                outbox jsonb NOT NULL,
                recorded_at double precision NOT NULL,
                PRIMARY KEY (function, source, event_id)
            )""",
            "CREATE INDEX inbox_by_age ON inbox (recorded_at)",
        ),
    ),
)

# Migration 2: the runtime claims an event in the inbox *before* running the handler, with an
# INSERT that reads nothing, and records the outbox afterwards with a second pure INSERT. The
# old way (SELECT the inbox entry, then INSERT it) made concurrent invocations of distinct
# events fail under SERIALIZABLE: each read an index page that the other then wrote
# (PostgreSQL docs, "Serializable Isolation Level": predicate locks on index pages). Outboxes
# move to their own table, and an empty one is not stored. SQLite's inbox becomes a WITHOUT
# ROWID table (one b-tree, not a table plus its primary-key index: fewer pages per commit).
_COPY_OUTBOXES = (
    "INSERT INTO outbox (function, source, event_id, events)"
    " SELECT function, source, event_id, outbox FROM inbox WHERE outbox <> {empty}"
)
MIGRATIONS += (
    Migration(
        description="inbox claimed before the handler runs; outboxes in their own table",
        sqlite=(
            """CREATE TABLE outbox (
                function TEXT NOT NULL,
                source TEXT NOT NULL,
                event_id TEXT NOT NULL,
                events TEXT NOT NULL,
                PRIMARY KEY (function, source, event_id)
            )""",
            _COPY_OUTBOXES.format(empty="'[]'"),
            """CREATE TABLE inbox_claims (
                function TEXT NOT NULL,
                source TEXT NOT NULL,
                event_id TEXT NOT NULL,
                recorded_at REAL NOT NULL,
                PRIMARY KEY (function, source, event_id)
            ) WITHOUT ROWID""",
            "INSERT INTO inbox_claims SELECT function, source, event_id, recorded_at FROM inbox",
            "DROP TABLE inbox",
            "ALTER TABLE inbox_claims RENAME TO inbox",
            "CREATE INDEX inbox_by_age ON inbox (recorded_at)",
        ),
        postgresql=(
            """CREATE TABLE outbox (
                function text NOT NULL,
                source text NOT NULL,
                event_id text NOT NULL,
                events jsonb NOT NULL,
                PRIMARY KEY (function, source, event_id)
            )""",
            _COPY_OUTBOXES.format(empty="'[]'::jsonb"),
            "ALTER TABLE inbox DROP COLUMN outbox",
        ),
    ),
)

LATEST_VERSION = len(MIGRATIONS)

_SCHEMA_VERSION_TABLE: dict[Dialect, str] = {
    "sqlite": """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    "postgresql": """CREATE TABLE IF NOT EXISTS schema_version (
        version integer PRIMARY KEY,
        description text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    )""",
}


def migrate(db: Executor, dialect: Dialect) -> None:
    """Bring the schema to `LATEST_VERSION`; the caller holds the exclusive transaction."""
    db.execute(_SCHEMA_VERSION_TABLE[dialect])
    ((current,),) = db.query("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    if current > LATEST_VERSION:
        raise StateError(
            f"the state database has schema version {current}, but this Shoal knows only up to"
            f" {LATEST_VERSION}: upgrade Shoal, or point it at another database"
        )
    for version, migration in enumerate(MIGRATIONS[current:], start=current + 1):
        for statement in migration.statements(dialect):
            db.execute(statement)
        db.execute(
            "INSERT INTO schema_version (version, description) VALUES (?, ?)",
            (version, migration.description),
        )
