"""The state store contract: every test runs against SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from typing import TYPE_CHECKING

import pytest

from shoal.state import (
    Conflict,
    Resource,
    StateError,
    StateStore,
    Transaction,
    open_store,
    run_in_transaction,
)
from shoal.state.migrations import LATEST_VERSION
from tests.shoal.state.conftest import in_threads

if TYPE_CHECKING:
    from tests.shoal.state.conftest import RawSQL

NODE_CAPACITY = 10
PLACEMENT_WORKERS = 4


def put_one(
    store: StateStore, kind: str, name: str, *, expected_version: int | None = None
) -> Resource:
    with store.transaction() as tx:
        return tx.put(kind, name, {"n": 1}, expected_version=expected_version)


# --- resources and versions ---------------------------------------------------------------


def test_get_of_a_missing_resource_is_none(store: StateStore) -> None:
    with store.transaction() as tx:
        assert tx.get("node", "n1") is None


def test_put_creates_at_version_1_and_every_write_adds_one(store: StateStore) -> None:
    with store.transaction() as tx:
        created = tx.put("node", "n1", {"capacity": 10})
        updated = tx.put("node", "n1", {"capacity": 12})
    assert created == Resource("node", "n1", 1, {"capacity": 10}, {})
    assert updated == Resource("node", "n1", 2, {"capacity": 12}, {})
    with store.transaction() as tx:
        assert tx.get("node", "n1") == updated


def test_bodies_round_trip_as_json(store: StateStore) -> None:
    body = {
        "text": 'naïve ☃ "quoted" \\ \n',
        "numbers": [0, -1, 2**62, 1.5, 1e-9],
        "flags": {"yes": True, "no": False, "nothing": None},
        "nested": [{"a": [[]]}, {}],
    }
    with store.transaction() as tx:
        assert tx.put("deployment", "web", body).body == body
    with store.transaction() as tx:
        stored = tx.get("deployment", "web")
    assert stored is not None
    assert stored.body == body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"load": math.nan}, "JSON"),
        ({"load": [math.inf]}, "JSON"),
        ({"log": "a\x00b"}, "NUL"),
        ({"a\x00b": "log"}, "NUL"),
    ],
    ids=["nan", "infinity", "nul-in-value", "nul-in-key"],
)
def test_a_body_either_backend_cannot_store_is_refused(
    store: StateStore, body: dict[str, object], reason: str
) -> None:
    with store.transaction() as tx, pytest.raises(ValueError, match=reason):
        tx.put("node", "n1", body)


def test_an_outbox_with_nul_characters_is_refused(store: StateStore) -> None:
    with store.transaction() as tx, pytest.raises(ValueError, match="NUL"):
        tx.inbox_put("scheduler", "/src", "e1", [{"data": "a\x00b"}])


def test_kinds_are_separate_namespaces(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.put("node", "web", {"is": "node"})
        tx.put("deployment", "web", {"is": "deployment"})
        assert [r.body for r in tx.list("node")] == [{"is": "node"}]
        assert tx.delete("node", "web")
        assert tx.get("deployment", "web") is not None


def test_list_orders_by_name_in_codepoint_order(store: StateStore) -> None:
    names = ["b", "a", "B", "ä", "a-2", "a10", "a9"]
    with store.transaction() as tx:
        for name in names:
            tx.put("replica", name, {})
        assert [r.name for r in tx.list("replica")] == sorted(names)


def test_delete_reports_whether_something_was_deleted(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.put("replica", "r1", {}, labels={"node": "n1"})
        assert tx.delete("replica", "r1") is True
        assert tx.delete("replica", "r1") is False
        assert tx.get("replica", "r1") is None
        assert tx.list("replica", label_selector={"node": "n1"}) == []


def test_a_deleted_resource_comes_back_at_version_1(store: StateStore) -> None:
    put_one(store, "node", "n1")
    put_one(store, "node", "n1")
    with store.transaction() as tx:
        tx.delete("node", "n1")
        assert tx.put("node", "n1", {}).version == 1


# --- conditional writes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected_version", "version_after"), [(None, 3), (2, 3)], ids=["unconditional", "matching"]
)
def test_put_succeeds_when_the_expected_version_holds(
    store: StateStore, expected_version: int | None, version_after: int
) -> None:
    put_one(store, "node", "n1")
    put_one(store, "node", "n1")
    assert put_one(store, "node", "n1", expected_version=expected_version).version == version_after


def test_put_expecting_absence_creates(store: StateStore) -> None:
    assert put_one(store, "node", "n1", expected_version=0).version == 1


@pytest.mark.parametrize(
    ("existing_versions", "expected_version", "message"),
    [
        (1, 0, "expected none, found version 1"),
        (2, 1, "expected version 1, found version 2"),
        (0, 1, "expected version 1, found none"),
    ],
    ids=["exists", "stale", "missing"],
)
def test_put_conflicts_when_the_expected_version_does_not_hold(
    store: StateStore, existing_versions: int, expected_version: int, message: str
) -> None:
    for _ in range(existing_versions):
        put_one(store, "node", "n1")
    with pytest.raises(Conflict, match=message):
        put_one(store, "node", "n1", expected_version=expected_version)
    with store.transaction() as tx:
        current = tx.get("node", "n1")
    assert (current.version if current else 0) == existing_versions


@pytest.mark.parametrize(("existing_versions", "expected_version"), [(2, 1), (0, 1)])
def test_delete_conflicts_when_the_expected_version_does_not_hold(
    store: StateStore, existing_versions: int, expected_version: int
) -> None:
    for _ in range(existing_versions):
        put_one(store, "node", "n1")
    with store.transaction() as tx, pytest.raises(Conflict, match="node/n1"):
        tx.delete("node", "n1", expected_version=expected_version)


def test_delete_with_the_current_version_deletes(store: StateStore) -> None:
    put_one(store, "node", "n1")
    with store.transaction() as tx:
        assert tx.delete("node", "n1", expected_version=1) is True


def test_meaningless_expected_versions_are_refused(store: StateStore) -> None:
    with store.transaction() as tx:
        with pytest.raises(ValueError, match="-1"):
            tx.put("node", "n1", {}, expected_version=-1)
        with pytest.raises(ValueError, match="0"):
            tx.delete("node", "n1", expected_version=0)


# --- labels ---------------------------------------------------------------------------------


def test_label_selectors_match_resources_carrying_all_the_labels(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.put("replica", "web-1", {}, labels={"deployment": "web", "node": "n1"})
        tx.put("replica", "web-2", {}, labels={"deployment": "web", "node": "n2"})
        tx.put("replica", "db-1", {}, labels={"deployment": "db", "node": "n1"})
        tx.put("node", "n1", {}, labels={"node": "n1"})

        def names(selector: dict[str, str]) -> list[str]:
            return [r.name for r in tx.list("replica", label_selector=selector)]

        assert names({"node": "n1"}) == ["db-1", "web-1"]
        assert names({"deployment": "web"}) == ["web-1", "web-2"]
        assert names({"deployment": "web", "node": "n1"}) == ["web-1"]
        assert names({"deployment": "web", "node": "n3"}) == []
        assert names({"zone": "a"}) == []
        assert names({}) == ["db-1", "web-1", "web-2"]


def test_put_without_labels_keeps_them_and_with_labels_replaces_them(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.put("replica", "r1", {"phase": "scheduled"}, labels={"node": "n1", "app": "web"})
        kept = tx.put("replica", "r1", {"phase": "running"})
        moved = tx.put("replica", "r1", {"phase": "running"}, labels={"node": "n2"})
        assert kept.labels == {"node": "n1", "app": "web"}
        assert moved.labels == {"node": "n2"}
        assert tx.list("replica", label_selector={"node": "n1"}) == []
        assert tx.list("replica", label_selector={"app": "web"}) == []
        assert tx.list("replica", label_selector={"node": "n2"}) == [moved]
        assert tx.put("replica", "r1", {}, labels={}).labels == {}


# --- transactions ---------------------------------------------------------------------------


def test_an_exception_rolls_back_everything_and_propagates(store: StateStore) -> None:
    put_one(store, "node", "kept")

    def write_everything_then_fail() -> None:
        with store.transaction() as tx:
            tx.put("node", "new", {})
            tx.put("node", "kept", {"changed": True}, labels={"zone": "a"})
            tx.delete("node", "kept")
            tx.inbox_put("scheduler", "/test", "e1", [])
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        write_everything_then_fail()
    with store.transaction() as tx:
        assert [(r.name, r.version, r.body) for r in tx.list("node")] == [("kept", 1, {"n": 1})]
        assert tx.list("node", label_selector={"zone": "a"}) == []
        assert tx.inbox_get("scheduler", "/test", "e1") is None


def test_a_transaction_sees_its_own_writes(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.put("node", "n1", {"allocated": 1})
        assert [r.body for r in tx.list("node")] == [{"allocated": 1}]


def test_concurrent_threads_never_lose_an_update(store: StateStore) -> None:
    def increment(tx: Transaction) -> None:
        counter = tx.get("counter", "c")
        value = counter.body["value"] if counter else 0
        assert isinstance(value, int)
        tx.put("counter", "c", {"value": value + 1})

    def worker(_index: int) -> None:
        for _ in range(10):
            run_in_transaction(store, increment, attempts=50)

    in_threads(worker, 4)
    with store.transaction() as tx:
        counter = tx.get("counter", "c")
    assert counter is not None
    assert (counter.body, counter.version) == ({"value": 40}, 40)


# --- run_in_transaction ---------------------------------------------------------------------


def test_run_in_transaction_reruns_on_conflict_with_earlier_attempts_rolled_back(
    store: StateStore,
) -> None:
    calls: list[int] = []

    def place(tx: Transaction) -> str:
        calls.append(len(calls))
        tx.put("attempt", str(len(calls)), {})
        if len(calls) < 3:
            raise Conflict("lost a race")
        return "placed"

    assert run_in_transaction(store, place) == "placed"
    with store.transaction() as tx:
        assert [r.name for r in tx.list("attempt")] == ["3"]


def test_run_in_transaction_gives_up_after_the_attempts(store: StateStore) -> None:
    calls: list[Transaction] = []

    def always_conflicts(tx: Transaction) -> None:
        calls.append(tx)
        raise Conflict("lost again")

    with pytest.raises(Conflict, match="lost again"):
        run_in_transaction(store, always_conflicts, attempts=3)
    assert len(calls) == 3


def test_run_in_transaction_does_not_retry_other_errors(store: StateStore) -> None:
    calls: list[Transaction] = []

    def broken(tx: Transaction) -> None:
        calls.append(tx)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_in_transaction(store, broken)
    with pytest.raises(ValueError, match="attempts"):
        run_in_transaction(store, broken, attempts=0)
    assert len(calls) == 1


# --- migrations -----------------------------------------------------------------------------


def test_opening_again_keeps_the_data_and_applies_nothing_twice(
    store_url: str, raw_sql: RawSQL
) -> None:
    first = open_store(store_url)
    put_one(first, "node", "n1")
    first.close()
    second = open_store(store_url)
    with second.transaction() as tx:
        assert tx.get("node", "n1") is not None
    second.close()
    versions = raw_sql("SELECT version FROM schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, LATEST_VERSION + 1)]


def test_concurrent_opens_migrate_once(store_url: str, raw_sql: RawSQL) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PLACEMENT_WORKERS)
    run_processes(
        [
            context.Process(target=open_and_close, args=(store_url, barrier))
            for _ in range(PLACEMENT_WORKERS)
        ]
    )
    versions = raw_sql("SELECT version FROM schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, LATEST_VERSION + 1)]


def test_a_schema_newer_than_this_code_is_refused(store_url: str, raw_sql: RawSQL) -> None:
    open_store(store_url).close()
    raw_sql(f"INSERT INTO schema_version (version, description) VALUES ({LATEST_VERSION + 1}, 'x')")
    with pytest.raises(StateError, match=f"schema version {LATEST_VERSION + 1}.*upgrade Shoal"):
        open_store(store_url)


# --- concurrency across processes -----------------------------------------------------------


def test_concurrent_schedulers_never_overfill_a_node(store: StateStore, store_url: str) -> None:
    with store.transaction() as tx:
        tx.put("node", "n1", {"capacity": NODE_CAPACITY, "allocated": 0})
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PLACEMENT_WORKERS)
    run_processes(
        [
            context.Process(target=place_replicas_until_full, args=(store_url, worker, barrier))
            for worker in range(PLACEMENT_WORKERS)
        ]
    )
    with store.transaction() as tx:
        node = tx.get("node", "n1")
        replicas = tx.list("replica", label_selector={"node": "n1"})
    assert node is not None
    assert node.body["allocated"] == len(replicas) == NODE_CAPACITY


def run_processes(processes: list[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * len(processes)


def open_and_close(url: str, barrier: Barrier) -> None:
    barrier.wait(timeout=30)
    open_store(url).close()


def place_replicas_until_full(url: str, worker: int, barrier: Barrier) -> None:
    """One scheduler process: place replicas on n1 while it has room, checking the invariant."""
    store = open_store(url)
    barrier.wait(timeout=30)
    placed = 0
    while run_in_transaction(store, place_replica(f"w{worker}-{placed}"), attempts=50):
        placed += 1
    store.close()


def place_replica(name: str) -> Callable[[Transaction], bool]:
    def place(tx: Transaction) -> bool:
        node = tx.get("node", "n1")
        assert node is not None
        replicas = tx.list("replica", label_selector={"node": "n1"})
        allocated, capacity = node.body["allocated"], node.body["capacity"]
        assert isinstance(allocated, int)
        assert isinstance(capacity, int)
        assert allocated == len(replicas) <= capacity  # what every snapshot must show
        if allocated == capacity:
            return False
        # Unconditional writes on purpose: serializable transactions alone must prevent overbooking.
        tx.put("node", "n1", {"capacity": capacity, "allocated": allocated + 1})
        tx.put("replica", name, {"image": "web:v1"}, labels={"node": "n1"})
        return True

    return place
