"""The embedded SQLite backend: one database file in WAL mode, writers serialized.

Every transaction starts with `BEGIN IMMEDIATE`, which takes the database's write lock before the
first read. Writers therefore run one at a time (across threads and processes) and each sees the
latest committed state, so read-modify-write is serializable without any version checks. A writer
that cannot get the lock within `BUSY_TIMEOUT_SECONDS` gets `Conflict` (retry the transaction).
Within one process, transactions first queue on a `threading.Lock`, which wakes the next one as
soon as the lock is free; SQLite's busy handler, left to arbitrate between processes, sleeps.
WAL lets readers of other connections proceed while a writer holds the lock.

Connections are kept for reuse: opening one per transaction costs a WAL checkpoint whenever the
last connection closes, about ten times the cost of a small transaction. A kept connection
would go on reading and committing into a file that was deleted or replaced meanwhile (the
kernel keeps an unlinked file alive while it is open), acknowledging work that is then lost, so
each transaction first checks that the path still names the file the store opened (one `stat`)
and is `StoreUnavailable` when it does not.

Durability: `synchronous=NORMAL` by default. In WAL mode that keeps every committed transaction
across a crash or SIGKILL of any process and never corrupts the file; only an operating-system
crash or power cut can roll back the last transactions (SQLite docs, "PRAGMA synchronous" and
"Write-Ahead Logging"). It avoids an fsync per commit, which on this kind of disk costs 3-7 ms
and capped the store at a few hundred transactions per second. The orchestration state heals
itself after such a loss (level-triggered reconcile); a deployment that wants every commit on
disk before the event is acknowledged uses `sqlite:///path.db?synchronous=full`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from shoal.state.errors import Conflict, StateError, StoreUnavailable
from shoal.state.migrations import migrate
from shoal.state.sql import Row, SQLTransaction

BUSY_TIMEOUT_SECONDS = 5.0
# SQLite's default automatic checkpoint is at 1000 WAL pages; a small commit writes about five.
CHECKPOINT_EVERY_COMMITS = 200
WAL_SWITCH_RETRY_SECONDS = 0.01
MINIMUM_SQLITE = (3, 35, 0)  # RETURNING
SYNCHRONOUS_MODES = ("normal", "full")


def _translation(error: sqlite3.OperationalError, path: Path) -> StateError:
    if error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return Conflict(f"the SQLite database {path} stayed locked by another writer")
    return StoreUnavailable(f"SQLite database {path}: {error}")


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as error:
        raise _translation(error, path) from error


def _enable_wal(connection: sqlite3.Connection, path: Path) -> None:
    """Switch to WAL, a setting stored in the file. The switch needs an exclusive lock that SQLite
    does not wait for, so concurrent first opens of a new file retry until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            with _translated(path):
                (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
        except Conflict:
            if time.monotonic() >= deadline:
                raise
            time.sleep(WAL_SWITCH_RETRY_SECONDS)
            continue
        if mode != "wal":
            raise StoreUnavailable(f"SQLite database {path} cannot use WAL mode (it is in {mode})")
        return


def _checkpoint(connection: sqlite3.Connection) -> None:
    """Copy the WAL back into the database file, without blocking writers (PASSIVE).

    SQLite's automatic checkpoint would run inside `COMMIT`, while this process's writer lock
    is held, and a checkpoint syncs the disk: every writer of the process would wait for that.
    So it is off, and each store checkpoints every CHECKPOINT_EVERY_COMMITS of its commits,
    after releasing the lock. A checkpoint that cannot run now (another is running) is skipped.
    """
    with contextlib.suppress(sqlite3.Error):
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


class _Executor:
    # Plain try/except rather than `_translated`: a context manager per statement is a fifth of
    # a small transaction's cost. sqlite3 keeps each connection's prepared statements (keyed by
    # the SQL text, which is constant per call site), so nothing is parsed twice.
    __slots__ = ("_connection", "_path")

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._path = path

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        try:
            return self._connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            raise _translation(error, self._path) from error

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        try:
            return self._connection.execute(sql, params).rowcount
        except sqlite3.OperationalError as error:
            raise _translation(error, self._path) from error

    def execute_many(self, sql: str, params: Iterable[Sequence[object]]) -> None:
        with _translated(self._path):
            self._connection.executemany(sql, params)


class SQLiteStore:
    """`StateStore` on a SQLite file; open it with `shoal.state.open_store`."""

    def __init__(
        self, path: Path, clock: Callable[[], float], *, synchronous: str = "normal"
    ) -> None:
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
        self._synchronous = synchronous
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
            raise StateError(
                f"the SQLite state store needs SQLite {'.'.join(map(str, MINIMUM_SQLITE))} or"
                f" newer; this Python uses {sqlite3.sqlite_version}"
            )
        self._path = path
        self._clock = clock
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = threading.Lock()
        self._commits = 0
        self._closed = False
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file once open
        try:
            connection = self._checkout()
            try:
                _enable_wal(connection, path)
                self._identity = _file_identity(path)
            finally:
                self._checkin(connection)
            with _Migration(self) as executor:
                migrate(executor, "sqlite")
        except Conflict as error:  # opening is not a transaction to re-run: the file is busy
            self.close()
            raise StoreUnavailable(f"{error}; cannot open the state store now") from error
        except BaseException:
            self.close()
            raise

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    def prune_inbox(self, older_than_seconds: float) -> int:
        with self.transaction() as tx:
            return tx.prune_inbox(older_than_seconds)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _roll_back(self, connection: sqlite3.Connection) -> None:
        """Undo the transaction and keep the connection; close it if even that fails."""
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except sqlite3.Error:
            connection.close()  # closing rolls back whatever the transaction did
            return
        self._checkin(connection)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the module issues no implicit BEGIN; we begin explicitly.
        connection = sqlite3.connect(
            self._path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA synchronous = {self._synchronous.upper()}")
        connection.execute("PRAGMA wal_autocheckpoint = 0")  # see _checkpoint
        return connection

    def _checkout(self) -> sqlite3.Connection:
        if self._identity is not None and _file_identity(self._path) != self._identity:
            raise StoreUnavailable(
                f"the state database {self._path} was deleted or replaced while this process "
                "had it open; nothing more is written to the old file: put the file back, or "
                "restart the function to open what is at that path now"
            )
        with self._lock:
            if self._idle:
                return self._idle.pop()
        with _translated(self._path):
            return self._connect()

    def _checkin(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()


class _Write:
    """One write transaction: `BEGIN IMMEDIATE` under the process's writer lock, then `COMMIT`,
    or a rollback when the block raises (the connection is kept). Classes rather than generator
    context managers: they run once per invocation, and each generator layer costs about as much
    as a statement."""

    __slots__ = ("_connection", "_executor", "_store")

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def _start(self) -> _Executor:
        store = self._store
        # Writers of this process queue on a lock, which hands over at once; SQLite's own busy
        # handler (for writers in other processes) sleeps 1, 2, 5, 10... ms between tries.
        if not store._writer.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise Conflict(f"the SQLite database {store._path} stayed locked by another writer")
        try:
            self._connection = connection = store._checkout()
            self._executor = executor = _Executor(connection, store._path)
            try:
                executor.execute("BEGIN IMMEDIATE")
            except BaseException:
                store._roll_back(connection)
                raise
        except BaseException:
            store._writer.release()
            raise
        return executor

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        store, connection = self._store, self._connection
        try:
            if kind is not None:
                store._roll_back(connection)
                return  # the block's exception propagates
            try:
                self._executor.execute("COMMIT")
            except BaseException:
                store._roll_back(connection)
                raise
            store._commits += 1
            checkpoint = store._commits % CHECKPOINT_EVERY_COMMITS == 0
        finally:
            store._writer.release()
        if checkpoint:
            _checkpoint(connection)
        store._checkin(connection)


class _Migration(_Write):
    __slots__ = ()

    def __enter__(self) -> _Executor:
        return self._start()


class _Transaction(_Write):
    """What `SQLiteStore.transaction()` returns: the write transaction as a `SQLTransaction`."""

    __slots__ = ()

    def __enter__(self) -> SQLTransaction:
        return SQLTransaction(self._start(), self._store._clock)


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None when there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino
