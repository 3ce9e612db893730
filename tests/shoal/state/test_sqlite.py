"""SQLite-only behaviour of the state store (the shared contract is in test_contract.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shoal.state import StoreUnavailable, open_store
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


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_file_deleted_or_replaced_under_the_store_is_unavailable(
    tmp_path: Path, how: str
) -> None:
    """Kept connections would commit into the old file, which nobody will read again."""
    path = tmp_path / "state.db"
    store = open_store(f"sqlite:///{path}")
    try:
        with store.transaction() as tx:
            tx.put("node", "n1", {"cpu": 1})
        if how == "replaced":
            shutil.copy(path, tmp_path / "copy.db")
        for leftover in tmp_path.glob("state.db*"):
            leftover.unlink()
        if how == "replaced":
            (tmp_path / "copy.db").rename(path)
        with (
            pytest.raises(StoreUnavailable, match="deleted or replaced"),
            store.transaction() as tx,
        ):
            tx.put("node", "n2", {"cpu": 2})
    finally:
        store.close()
