"""The state store: where stateless functions keep orchestration data, transactionally.

One narrow interface, two backends that pass one contract suite (tests/shoal/state):

    store = open_store("sqlite:///state.db")              # embedded default (WAL)
    store = open_store("postgresql://shoal@db:5432/shoal")  # production: psycopg 3 + a pool

URLs: `sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (everything after
`sqlite:///` is the file path, as in SQLAlchemy); `postgresql://` or `postgres://` followed by
anything libpq accepts, e.g. `?options=-csearch_path%3Dshoal` to pick the schema. Opening applies
pending schema migrations (`shoal.state.migrations`); concurrent opens are safe.

Data: a resource is a JSON object `body` plus string `labels`, keyed by `(kind, name)` and
versioned from 1, +1 per write. `put(..., expected_version=...)` makes a write conditional: 0 means
"must not exist yet", N means "must still be at version N"; a mismatch raises `Conflict`.
A deleted and re-created resource starts again at version 1.
`put` without `labels` keeps the stored ones. `list(kind, label_selector={...})` returns the
resources carrying *all* the given labels (e.g. `{"deployment": "web", "node": "n1"}`), ordered by
name in codepoint order on both backends. Bodies round-trip as JSON, normalized as PostgreSQL's
jsonb does: object key order is not kept, and a float so large that JSON writes it with an
exponent (1e16 and up) comes back as an int. NaN, infinities and NUL characters are refused with
`ValueError`, because jsonb cannot hold them.

Transactions are serializable: a function may read (a node, the replicas on it), decide, and
write without version checks, and two concurrent transactions can never both act on the same
stale read; one of them gets `Conflict` (SQLite: writers run one at a time behind
`BEGIN IMMEDIATE`; PostgreSQL: SERIALIZABLE isolation, see `shoal.state.postgres` for why not row
locks). So keep transactions short and free of outside effects, and run them with
`run_in_transaction`, which re-runs them on `Conflict`. A `Conflict` ends the transaction: let it
leave the `with` block rather than carry on. A `Transaction` belongs to one thread;
the store itself may be shared between threads (not across `fork`: open it in each process).

Inbox and outbox, the function runtime's idempotent redelivery, all in one transaction:

    def invoke(tx: Transaction) -> list[dict[str, object]]:
        recorded = tx.inbox_claim(function, event["source"], event["id"])
        if recorded is not None:
            return recorded                      # seen before: re-publish, don't re-run
        outbox = handler(event, tx)              # reads and writes resources through tx
        tx.outbox_put(function, event["source"], event["id"], outbox)
        return outbox

    outbox = run_in_transaction(store, invoke)   # then publish outbox to K_SINK

The claim comes first and is a plain INSERT, and so is recording the outbox: invocations of
distinct events read nothing of each other's, so they never conflict, even under SERIALIZABLE.
Two concurrent deliveries of one event cannot both commit: the loser's claim (or its commit)
raises `Conflict`, its writes roll back, and its re-run finds the winner's outbox.
`inbox_get` / `inbox_put` read and record an entry in one step (tools and tests).
`prune_inbox(seconds)` forgets entries older than that, measured with the `clock` given to
`open_store`; choose it longer than the broker's whole retry window, or a very late redelivery
would run the handler again.

Errors (`shoal.state.errors`): `Conflict` and `StoreUnavailable` are retryable, `InvalidStateURL`
is a configuration mistake, `LimitExceeded` is data beyond a limit of the database (PostgreSQL:
a key too long for its index, such as an event id or source of several thousand characters)
that no retry can store; all derive from `StateError`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict

from shoal.state.errors import (
    Conflict,
    InvalidStateURL,
    LimitExceeded,
    StateError,
    StoreUnavailable,
)
from shoal.state.interface import JSONObject, Outbox, Resource, StateStore, Transaction
from shoal.state.postgres import PostgresStore
from shoal.state.retry import run_in_transaction
from shoal.state.sqlite import SYNCHRONOUS_MODES, SQLiteStore

__all__ = [
    "Conflict",
    "InvalidStateURL",
    "JSONObject",
    "LimitExceeded",
    "Outbox",
    "Resource",
    "StateError",
    "StateStore",
    "StoreUnavailable",
    "Transaction",
    "open_store",
    "run_in_transaction",
]

_ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db or postgresql://user@host:5432/dbname"
)


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> StateStore:
    """Open (creating or migrating as needed) the store that `url` names.

    `clock` gives the current time in seconds; the inbox records and prunes by it.
    Raises `InvalidStateURL` for a URL it cannot use, `StoreUnavailable` when the database cannot
    be reached or opened.
    """
    scheme, separator, _ = url.partition(":")
    if scheme == "sqlite":
        location, _, query = url.partition("?")
        return SQLiteStore(_sqlite_path(location), clock, synchronous=_sqlite_synchronous(query))
    if separator and scheme in ("postgresql", "postgres"):
        _check_postgres_url(url)
        return PostgresStore(url, clock)
    shown = f"a URL with scheme {scheme!r}" if separator else repr(url)
    raise InvalidStateURL(f"cannot open a state store from {shown}: use {_ACCEPTED}")


def _sqlite_path(url: str) -> Path:
    prefix = "sqlite:///"
    path = url.removeprefix(prefix)
    if not url.startswith(prefix) or not path:
        raise InvalidStateURL(f"malformed SQLite URL {url!r}: use {_ACCEPTED}")
    if path == ":memory:":
        raise InvalidStateURL(
            "an in-memory SQLite state store is not supported (each connection would see its own"
            " empty database): use a file, e.g. sqlite:////tmp/shoal/state.db"
        )
    return Path(path)


def _sqlite_synchronous(query: str) -> str:
    """`?synchronous=normal|full` (see `shoal.state.sqlite` for what each promises)."""
    options = dict(parse_qsl(query, keep_blank_values=True))
    mode = options.pop("synchronous", "normal").lower()
    if options or mode not in SYNCHRONOUS_MODES:
        raise InvalidStateURL(
            f"unsupported SQLite URL options {query!r}: the only option is "
            f"synchronous={'|'.join(SYNCHRONOUS_MODES)}"
        )
    return mode


def _check_postgres_url(url: str) -> None:
    try:
        conninfo_to_dict(url)
    except ProgrammingError as error:
        reason = str(error).strip()
        # libpq quotes the part it could not parse, which may be the password.
        password = re.match(r"[^:]+://[^:@/]*:([^/]*)@", url)
        if password and password.group(1):
            reason = reason.replace(password.group(1), "***")
        raise InvalidStateURL(f"malformed PostgreSQL URL ({reason}): use {_ACCEPTED}") from None
