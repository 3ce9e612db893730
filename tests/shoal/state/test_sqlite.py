"""SQLite-only behaviour of the state store (the shared contract is in test_contract.py)."""

from __future__ import annotations

from pathlib import Path

from shoal.state import open_store
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
