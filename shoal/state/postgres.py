"""The PostgreSQL backend: psycopg 3 with a psycopg_pool pool, SERIALIZABLE transactions.

Why SERIALIZABLE rather than row locks (`SELECT ... FOR UPDATE`): the capacity check that keeps
two schedulers from overfilling a node reads a node *and a list of replicas*. A row lock cannot
cover rows that do not exist yet (a replica another transaction is inserting), and it would have
to appear in the interface (`get(..., for_update=True)`) and be remembered by every function.
Under SERIALIZABLE, PostgreSQL's predicate locks catch that phantom too and abort one of the
transactions with 40001 (serialization failure), which we raise as `Conflict`, as we do
deadlocks (40P01); `run_in_transaction` re-runs it against fresh data. So a function that reads,
decides and writes is correct without version checks, exactly as on SQLite. The price is the
occasional abort of a transaction that would have been fine; that costs a retry, never an error.

Migrations run on a separate connection in READ COMMITTED behind a transaction-scoped advisory
lock: the schema_version read must see what a concurrent opener committed while we waited for the
lock, which a SERIALIZABLE snapshot taken before the wait would not.

Which schema the tables live in follows the connection's `search_path`, so
`postgresql://host/db?options=-csearch_path%3Dshoal` isolates one installation (or test run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool

from shoal.state.errors import Conflict, LimitExceeded, StoreUnavailable
from shoal.state.migrations import migrate
from shoal.state.sql import Row, SQLTransaction

Connection = psycopg.Connection[TupleRow]

# "SHOAL" in ASCII: any constant works while no other application on the database uses it. The
# lock is per database, so opens of stores in different schemas of one database queue briefly.
MIGRATION_LOCK_KEY = 0x53484F414C
POOL_MAX_SIZE = 10
POOL_TIMEOUT_SECONDS = 10.0
# SQLSTATE class 54, "program limit exceeded" (PostgreSQL manual, appendix A): e.g. 54000 for an
# index row larger than a btree page allows (about 2,700 bytes), as a very long event id makes.
# psycopg raises these as OperationalError, the class of "cannot connect"; they are not that.
_PROGRAM_LIMIT_CLASS = "54"


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as error:
        raise Conflict(f"PostgreSQL aborted the transaction: {error}") from error
    except psycopg.Error as error:
        if (error.sqlstate or "").startswith(_PROGRAM_LIMIT_CLASS):
            reason = error.diag.message_primary or str(error)
            raise LimitExceeded(
                f"PostgreSQL refuses the data as beyond one of its limits ({reason}; SQLSTATE "
                f"{error.sqlstate}): writing the same again cannot succeed"
            ) from error
        if isinstance(error, psycopg.OperationalError):  # PoolTimeout too
            raise StoreUnavailable(f"PostgreSQL is unavailable: {error}") from error
        raise


def _placeholders(sql: str) -> str:
    """The shared statements use `?` (and no literal `?` or `%`); psycopg's placeholder is `%s`."""
    return sql.replace("?", "%s")


class _Executor:
    """Runs one transaction's statements. A pooled connection is not checked when it is taken
    (that would cost a round trip per transaction); if the server closed it meanwhile (a
    restart), the first statement fails and that is a `Conflict`: nothing was committed, and
    `run_in_transaction` re-runs the transaction on a fresh connection."""

    __slots__ = ("_connection", "_first")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._first = True

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._run(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._run(sql, params).rowcount

    def _run(self, sql: str, params: Sequence[object]) -> psycopg.Cursor[TupleRow]:
        try:
            cursor = self._connection.execute(_placeholders(sql), params)
        except psycopg.OperationalError as error:
            if self._first and self._connection.broken:
                raise Conflict(
                    f"the pooled PostgreSQL connection was closed (a server restart?): {error}"
                ) from error
            with _translated():
                raise
        self._first = False
        return cursor

    def execute_many(self, sql: str, params: Iterable[Sequence[object]]) -> None:
        with _translated(), self._connection.cursor() as cursor:
            cursor.executemany(_placeholders(sql), params)


def _configure(connection: Connection) -> None:
    connection.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
    # JSON reaches the shared code as text on both backends (see shoal.state.sql).
    connection.adapters.register_loader("jsonb", TextLoader)


class PostgresStore:
    """`StateStore` on a PostgreSQL database; open it with `shoal.state.open_store`."""

    def __init__(self, url: str, clock: Callable[[], float]) -> None:
        self._clock = clock
        with _translated(), psycopg.connect(url) as connection:  # commits on exit
            connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            migrate(_Executor(connection), "postgresql")
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_MAX_SIZE,
            timeout=POOL_TIMEOUT_SECONDS,
            configure=_configure,
            name="shoal-state",
            open=True,
        )

    @contextmanager
    def transaction(self) -> Iterator[SQLTransaction]:
        with self._begin() as executor:
            yield SQLTransaction(executor, self._clock)

    def prune_inbox(self, older_than_seconds: float) -> int:
        with self.transaction() as tx:
            return tx.prune_inbox(older_than_seconds)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _begin(self) -> Iterator[_Executor]:
        with _translated():
            connection = self._pool.getconn()
        try:
            # The first statement begins the transaction, SERIALIZABLE (see _configure).
            yield _Executor(connection)
            with _translated():
                connection.commit()
        except BaseException:
            # A broken connection cannot roll back; the pool discards it on putconn.
            with contextlib.suppress(psycopg.Error):
                connection.rollback()
            raise
        finally:
            self._pool.putconn(connection)
