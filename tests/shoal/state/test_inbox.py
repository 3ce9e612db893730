"""The inbox and outbox contract (idempotent redelivery), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal

import pytest

from shoal.state import Conflict, Outbox, StateStore, Transaction, open_store, run_in_transaction
from shoal.state.migrations import LATEST_VERSION, MIGRATIONS
from tests.shoal.state.conftest import in_threads

if TYPE_CHECKING:
    from tests.shoal.state.conftest import FakeClock, RawSQL

OUTBOX = [
    {
        "specversion": "1.0",
        "type": "dev.shoal.replica.scheduled",
        "source": "/shoal/scheduler",
        "id": "e1-0",
        "subject": "web-1",
        "data": {"node": "n1", "port": 30001},
    },
    {
        "specversion": "1.0",
        "type": "dev.shoal.replica.scheduled",
        "source": "/shoal/scheduler",
        "id": "e1-1",
        "subject": "web-2",
        "data": {"node": "n2", "port": 30002},
    },
]


def test_the_inbox_returns_the_recorded_outbox(store: StateStore) -> None:
    with store.transaction() as tx:
        assert tx.inbox_get("scheduler", "/shoal/deployments", "e1") is None
        tx.inbox_put("scheduler", "/shoal/deployments", "e1", OUTBOX)
        assert tx.inbox_get("scheduler", "/shoal/deployments", "e1") == OUTBOX
    with store.transaction() as tx:
        assert tx.inbox_get("scheduler", "/shoal/deployments", "e1") == OUTBOX


def test_an_empty_outbox_is_recorded_as_handled(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.inbox_put("scheduler", "/shoal/deployments", "e1", [])
    with store.transaction() as tx:
        assert tx.inbox_get("scheduler", "/shoal/deployments", "e1") == []


@pytest.mark.parametrize(
    ("function", "source", "event_id"),
    [("deployments", "/src", "e1"), ("scheduler", "/other", "e1"), ("scheduler", "/src", "e2")],
    ids=["other-function", "other-source", "other-id"],
)
def test_inbox_entries_are_keyed_by_function_source_and_id(
    store: StateStore, function: str, source: str, event_id: str
) -> None:
    with store.transaction() as tx:
        tx.inbox_put("scheduler", "/src", "e1", OUTBOX)
        assert tx.inbox_get(function, source, event_id) is None


def test_recording_an_event_twice_conflicts(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.inbox_put("scheduler", "/src", "e1", OUTBOX)
    with store.transaction() as tx, pytest.raises(Conflict, match="already in the inbox"):
        tx.inbox_put("scheduler", "/src", "e1", [])


def test_prune_inbox_forgets_only_entries_older_than_asked(
    store: StateStore, clock: FakeClock
) -> None:
    with store.transaction() as tx:
        tx.inbox_put("scheduler", "/src", "old", [])
    clock.advance(100)
    with store.transaction() as tx:
        tx.inbox_put("scheduler", "/src", "new", [])
    clock.advance(20)
    assert store.prune_inbox(older_than_seconds=200) == 0
    assert store.prune_inbox(older_than_seconds=50) == 1
    with store.transaction() as tx:
        assert tx.inbox_get("scheduler", "/src", "old") is None
        assert tx.inbox_get("scheduler", "/src", "new") == []


def test_prune_inbox_forgets_the_outboxes_of_the_entries_it_forgets(
    store: StateStore, clock: FakeClock, raw_sql: RawSQL
) -> None:
    with store.transaction() as tx:
        tx.inbox_put("scheduler", "/src", "old", OUTBOX)
    clock.advance(100)
    with store.transaction() as tx:
        tx.inbox_put("scheduler", "/src", "new", OUTBOX)

    assert store.prune_inbox(older_than_seconds=50) == 1
    assert raw_sql("SELECT event_id FROM outbox") == [("new",)]


# --- claiming: the runtime's path ------------------------------------------------------------


def test_a_first_claim_is_none_and_a_later_one_returns_the_recorded_outbox(
    store: StateStore,
) -> None:
    with store.transaction() as tx:
        assert tx.inbox_claim("scheduler", "/src", "e1") is None
        tx.outbox_put("scheduler", "/src", "e1", OUTBOX)
    with store.transaction() as tx:
        assert tx.inbox_claim("scheduler", "/src", "e1") == OUTBOX
        assert tx.inbox_get("scheduler", "/src", "e1") == OUTBOX


def test_a_claim_without_an_outbox_records_an_empty_one(store: StateStore) -> None:
    with store.transaction() as tx:
        assert tx.inbox_claim("scheduler", "/src", "e1") is None
        tx.outbox_put("scheduler", "/src", "e1", [])
    with store.transaction() as tx:
        assert tx.inbox_claim("scheduler", "/src", "e1") == []
        assert tx.inbox_get("scheduler", "/src", "e1") == []


def test_a_rolled_back_claim_leaves_the_event_unhandled(store: StateStore) -> None:
    def claim_then_fail() -> None:
        with store.transaction() as tx:
            assert tx.inbox_claim("scheduler", "/src", "e1") is None
            tx.outbox_put("scheduler", "/src", "e1", OUTBOX)
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        claim_then_fail()
    with store.transaction() as tx:
        assert tx.inbox_claim("scheduler", "/src", "e1") is None


def test_an_outbox_is_recorded_once(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.inbox_claim("scheduler", "/src", "e1")
        tx.outbox_put("scheduler", "/src", "e1", OUTBOX)
        with pytest.raises(Conflict, match="already recorded"):
            tx.outbox_put("scheduler", "/src", "e1", OUTBOX)


INVOCATIONS = 6


def test_concurrent_invocations_of_distinct_events_never_conflict(
    store: StateStore, store_url: str
) -> None:
    """What every function replica does at once: claim, read, record. No retry is allowed here:
    on PostgreSQL all transactions are held open together (SERIALIZABLE sees them overlap);
    SQLite runs writers one at a time, so there they simply queue."""
    overlapping = store_url.startswith("postgresql")
    barrier = threading.Barrier(INVOCATIONS)
    failures: list[BaseException] = []

    def invoke(index: int) -> None:
        try:
            with store.transaction() as tx:
                assert tx.inbox_claim("scheduler", "/src", f"e{index}") is None
                tx.get("node", "n1")
                if overlapping:
                    barrier.wait(timeout=30)
                tx.outbox_put("scheduler", "/src", f"e{index}", OUTBOX)
        except BaseException as error:
            failures.append(error)

    in_threads(invoke, INVOCATIONS)

    assert failures == []
    with store.transaction() as tx:
        recorded = [tx.inbox_get("scheduler", "/src", f"e{n}") for n in range(INVOCATIONS)]
    assert recorded == [OUTBOX] * INVOCATIONS


def test_concurrent_deliveries_of_one_event_run_the_handler_once(store: StateStore) -> None:
    handled: list[int] = []
    results: list[Outbox] = []
    lock = threading.Lock()

    def deliver(tx: Transaction) -> Outbox:
        recorded = tx.inbox_claim("scheduler", "/src", "e1")
        if recorded is not None:
            return recorded
        tx.put("counter", "handled", {})
        outbox: Outbox = [{**OUTBOX[0], "id": "only"}]
        tx.outbox_put("scheduler", "/src", "e1", outbox)
        return outbox

    def worker(_index: int) -> None:
        outbox = run_in_transaction(store, deliver, attempts=20)
        with lock:
            results.append(outbox)

    in_threads(worker, 4)

    with store.transaction() as tx:
        counter = tx.get("counter", "handled")
        handled.append(0 if counter is None else counter.version)
    assert handled == [1]
    assert results == [[{**OUTBOX[0], "id": "only"}]] * 4


# --- migration 2: outboxes in their own table --------------------------------------------------


def test_outboxes_recorded_before_migration_2_are_kept(store_url: str, raw_sql: RawSQL) -> None:
    dialect: Literal["sqlite", "postgresql"] = (
        "postgresql" if store_url.startswith("postgresql") else "sqlite"
    )
    raw_sql(
        "CREATE TABLE schema_version (version integer PRIMARY KEY, description text NOT NULL,"
        " applied_at text)"
    )
    for statement in MIGRATIONS[0].statements(dialect):
        raw_sql(statement)
    raw_sql("INSERT INTO schema_version (version, description) VALUES (1, 'v1')")
    raw_sql(
        "INSERT INTO inbox (function, source, event_id, outbox, recorded_at) VALUES"
        """ ('scheduler', '/src', 'full', '[{"id": "x"}]', 1), ('scheduler', '/src', 'empty',"""
        " '[]', 1)"
    )

    store = open_store(store_url)
    try:
        with store.transaction() as tx:
            assert tx.inbox_get("scheduler", "/src", "full") == [{"id": "x"}]
            assert tx.inbox_claim("scheduler", "/src", "empty") == []
            assert tx.inbox_claim("scheduler", "/src", "new") is None
    finally:
        store.close()
    assert raw_sql("SELECT MAX(version) FROM schema_version") == [(LATEST_VERSION,)]
