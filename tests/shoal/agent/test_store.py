from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from shoal.agent.reconcile import Assignment, State
from shoal.agent.store import AssignmentStore, GroupedWrites
from tests.shoal.agent.support import replica


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AssignmentStore]:
    opened = AssignmentStore(tmp_path / "agent" / "assignments.sqlite3")
    yield opened
    opened.close()


def running(name: str, node: str = "n1", updated_at: float = 10.0) -> Assignment:
    spec = replica(
        name, node=node, command=["sleep", "$PORT"], env={"A": "1"}, ports=[("http", 80)]
    )
    return Assignment(name, node, "web", State.RUN, spec, "e1", None, updated_at)


def test_saved_assignments_survive_reopening(store: AssignmentStore, tmp_path: Path) -> None:
    stopped = Assignment("web-2", "n1", "web", State.STOPPED, updated_at=11.0)
    exited = Assignment("web-3", "n1", "web", State.EXITED, replica("web-3"), "e3", 137, 12.0)
    store.save_all([running("web-1"), stopped, exited])
    store.close()
    reopened = AssignmentStore(store.path)
    try:
        assert reopened.load(["n1"]) == {
            "web-1": running("web-1"),
            "web-2": stopped,
            "web-3": exited,
        }
    finally:
        reopened.close()


def test_saving_again_replaces(store: AssignmentStore) -> None:
    store.save_all([running("web-1")])
    store.save_all([Assignment("web-1", "n1", "web", State.EXITED, replica("web-1"), "e1", 1, 2.0)])
    assert store.load(["n1"])["web-1"].state is State.EXITED


def test_load_gives_only_the_nodes_asked_for(store: AssignmentStore) -> None:
    store.save_all([running("web-1", node="sim-0"), running("web-2", node="sim-1")])
    assert set(store.load(["sim-1", "sim-2"])) == {"web-2"}


def test_prune_forgets_old_records_of_replicas_that_no_longer_run(store: AssignmentStore) -> None:
    store.save_all(
        [
            running("old-running", updated_at=1.0),
            Assignment("old-stopped", "n1", "web", State.STOPPED, updated_at=1.0),
            Assignment("old-exited", "n1", "web", State.EXITED, exit_code=1, updated_at=1.0),
            Assignment("new-stopped", "n1", "web", State.STOPPED, updated_at=9.0),
        ]
    )
    assert store.prune(before=5.0) == 2
    assert set(store.load(["n1"])) == {"old-running", "new-stopped"}


class RecordingStore(AssignmentStore):
    """Records each transaction's replicas; the first `failures` transactions fail."""

    def __init__(self, path: Path, failures: int = 0) -> None:
        super().__init__(path)
        self.failures = failures
        self.transactions: list[list[str]] = []

    def save_all(self, assignments: Iterable[Assignment]) -> None:
        saved = list(assignments)
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("disk I/O error")
        self.transactions.append([assignment.replica for assignment in saved])
        super().save_all(saved)


async def test_saves_of_one_moment_share_a_transaction(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "assignments.sqlite3")
    writes = GroupedWrites(store)
    for name in ("web-1", "web-2", "web-3"):
        writes.save(running(name))
    writes.save(running("web-1", updated_at=11.0))
    await writes.written()
    writes.save(running("web-4"))
    await writes.written()
    assert store.transactions == [["web-1", "web-2", "web-3"], ["web-4"]]
    assert store.load(["n1"])["web-1"].updated_at == 11.0
    store.close()


async def test_a_failed_write_reaches_its_waiters_and_is_written_again(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "assignments.sqlite3", failures=1)
    writes = GroupedWrites(store)
    writes.save(running("web-1"))
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        await writes.written()
    writes.save(running("web-2"))
    await writes.written()
    assert store.transactions == [["web-1", "web-2"]]
    store.close()
