"""SQLite-only behaviour of the state store (the shared contract is in test_contract.py)."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from shoal.state import Conflict, open_store, sqlite
from shoal.state.sqlite import CHECKPOINT_EVERY_COMMITS

PAGE = 4096


def test_the_wal_is_checkpointed_as_commits_go_by(tmp_path: Path) -> None:
    """SQLite's own checkpoint is off (it would run under the writer lock): the store's must
    keep the WAL from growing with every commit."""
    commits = 5 * CHECKPOINT_EVERY_COMMITS
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        for index in range(commits):
            with store.transaction() as tx:
                tx.put("node", f"n{index}", {"index": index})
        wal = (tmp_path / "state.db-wal").stat().st_size
    finally:
        store.close()

    # Every commit writes at least two pages (a table and its primary key index); without
    # checkpoints the WAL would hold all of them.
    assert wal < commits * PAGE


def _hold_writer_lock(database: Path) -> int:
    """Another process's writer, as far as the lock is concerned: its own open file, flocked."""
    descriptor = os.open(database.with_name(database.name + "-writer"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


def test_a_writer_waits_for_the_writer_lock_of_other_processes(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    store = open_store(f"sqlite:///{database}")
    held = _hold_writer_lock(database)
    entered = threading.Event()

    def write() -> None:
        with store.transaction() as tx:
            entered.set()
            tx.put("thing", "a", {"n": 1})

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert not entered.wait(0.3)  # blocked behind the other process's writer
    finally:
        fcntl.flock(held, fcntl.LOCK_UN)
        os.close(held)
    writer.join(timeout=10)
    assert entered.is_set()
    with store.transaction() as tx:
        assert tx.get("thing", "a") is not None
    store.close()


def test_a_writer_lock_held_past_the_busy_timeout_is_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "state.db"
    store = open_store(f"sqlite:///{database}")
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_SECONDS", 0.2)
    held = _hold_writer_lock(database)
    try:
        with (
            pytest.raises(Conflict, match="stayed locked by another writer"),
            store.transaction() as tx,
        ):
            tx.put("thing", "a", {"n": 1})
    finally:
        os.close(held)
    with store.transaction() as tx:  # the lock is free again, and so is the in-process one
        tx.put("thing", "a", {"n": 1})
    store.close()
