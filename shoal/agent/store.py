"""What the agent was told, kept in a small SQLite file so a restarted agent knows it.

One row per replica (its `Assignment`), and the names of the nodes the agent served last, so
that an agent started with fewer (or other) nodes can say which ones are gone for good. The
agent writes a row before it answers the event that changed it, so an acknowledged event is
never forgotten: a crash right after the answer leaves a row the restarted agent reconciles.
WAL with `synchronous=NORMAL` survives a killed process (not a power cut) without an fsync per
event.

A commit costs far more than a row (over 100 us on a slow disk), and the broker delivers many
events at once, so `GroupedWrites` gathers the rows saved during one turn of the event loop
into one transaction, written on the loop's next turn (group commit). The write itself runs on
the event loop: it is short, and a thread hop would cost about as much.

Rows of replicas that no longer run (exited, stopped) are kept for `retention` seconds, long
enough to recognise redelivered and overtaking events, then pruned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Collection, Iterable
from pathlib import Path

from shoal.agent.reconcile import Assignment, State
from shoal.agent.spec import parse_scheduled

__all__ = ["AssignmentStore", "GroupedWrites"]

log = logging.getLogger("shoal.agent.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    replica TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    deployment TEXT NOT NULL,
    state TEXT NOT NULL,
    spec TEXT,
    scheduled_id TEXT,
    exit_code INTEGER,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS assignments_by_state ON assignments (state, updated_at);
CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY);
"""
_COLUMNS = "replica, node, deployment, state, spec, scheduled_id, exit_code, updated_at"
_Row = tuple[str, str, str, str, str | None, str | None, int | None, float]


class AssignmentStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def load(self, nodes: Collection[str]) -> dict[str, Assignment]:
        """Every assignment of these nodes, by replica name."""
        rows: list[_Row] = self._db.execute(f"SELECT {_COLUMNS} FROM assignments").fetchall()
        return {row[0]: _assignment(row) for row in rows if row[1] in nodes}

    def save_all(self, assignments: Iterable[Assignment]) -> None:
        """Write the assignments in one transaction: all of them, or none."""
        rows = [_row(assignment) for assignment in assignments]
        with self._db:  # BEGIN, then COMMIT or ROLLBACK
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT OR REPLACE INTO assignments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def served_nodes(self) -> frozenset[str]:
        """The nodes recorded by `record_nodes`: those of the agent that ran here last."""
        return frozenset(name for (name,) in self._db.execute("SELECT name FROM nodes"))

    def record_nodes(self, names: Iterable[str]) -> None:
        """Replace the recorded nodes with `names`."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM nodes")
            self._db.executemany("INSERT INTO nodes (name) VALUES (?)", [(n,) for n in names])

    def prune(self, before: float) -> int:
        """Delete rows of replicas that no longer run, last changed before `before`."""
        cursor = self._db.execute(
            "DELETE FROM assignments WHERE state != ? AND updated_at < ?", (State.RUN, before)
        )
        return cursor.rowcount

    def close(self) -> None:
        self._db.close()


class GroupedWrites:
    """Saves gathered into one transaction per turn of the event loop (group commit)."""

    def __init__(self, store: AssignmentStore) -> None:
        self._store = store
        self._unwritten: dict[str, Assignment] = {}
        self._writing: asyncio.Future[None] | None = None

    def save(self, assignment: Assignment) -> None:
        self._unwritten[assignment.replica] = assignment
        if self._writing is None:
            loop = asyncio.get_running_loop()
            self._writing = loop.create_future()
            loop.call_soon(self._write)

    async def written(self) -> None:
        """Wait until every assignment saved so far is written; raise what the write raised."""
        if self._writing is not None:
            await asyncio.shield(self._writing)

    def _write(self) -> None:
        writing, self._writing = self._writing, None
        assert writing is not None
        try:
            self._store.save_all(self._unwritten.values())
        except Exception as error:  # the waiters must hear of it, whatever it is
            log.error("cannot write %d assignment(s): %s", len(self._unwritten), error)
            writing.set_exception(error)
            writing.exception()  # retrieved: saves without a waiter must not warn
            return  # kept unwritten: the next save writes them again
        self._unwritten.clear()
        writing.set_result(None)


def _row(assignment: Assignment) -> _Row:
    spec = None if assignment.spec is None else json.dumps(assignment.spec.to_data())
    return (
        assignment.replica,
        assignment.node,
        assignment.deployment,
        assignment.state.value,
        spec,
        assignment.scheduled_id,
        assignment.exit_code,
        assignment.updated_at,
    )


def _assignment(row: _Row) -> Assignment:
    replica, node, deployment, state, spec, scheduled_id, exit_code, updated_at = row
    return Assignment(
        replica=replica,
        node=node,
        deployment=deployment,
        state=State(state),
        spec=None if spec is None else parse_scheduled(json.loads(spec)),
        scheduled_id=scheduled_id,
        exit_code=exit_code,
        updated_at=updated_at,
    )
