"""Fixtures that run every contract test once per backend, each on a database of its own.

PostgreSQL tests use a fresh schema (dropped afterwards) on the server named by
SHOAL_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test. They fail, never
skip, when it is unreachable: CI starts it, and a silently skipped backend is an untested one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from shoal.state import StateStore, open_store

POSTGRES_URL = os.environ.get(
    "SHOAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

RawSQL = Callable[[str], list[tuple[object, ...]]]


def in_threads(work: Callable[[int], None], count: int) -> None:
    """Run `work(0)` ... `work(count - 1)` in threads at once and wait for all of them."""
    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, not opened yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"  # tmp_path is absolute: sqlite:////tmp/...
        return
    schema = f"shoal_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL}; start it (CI does) or point"
            f" SHOAL_TEST_POSTGRES_URL at one: {error}"
        )
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        separator = "&" if "?" in POSTGRES_URL else "?"
        try:
            yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[StateStore]:
    opened = open_store(store_url, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def raw_sql(store_url: str) -> RawSQL:
    """Run one statement on the test database behind the store's back (for schema checks)."""

    def run(statement: str) -> list[tuple[object, ...]]:
        if store_url.startswith("sqlite:"):
            path = store_url.removeprefix("sqlite:///")
            with closing(sqlite3.connect(path)) as database, database:
                return database.execute(statement).fetchall()
        with psycopg.connect(store_url, autocommit=True) as server:
            cursor = server.execute(statement)
            return cursor.fetchall() if cursor.description else []

    return run
