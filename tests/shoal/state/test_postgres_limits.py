"""PostgreSQL's program limits (SQLSTATE class 54) are `LimitExceeded`: permanent, not retried.

A key too long for a btree index (an inbox entry for an event id of 8,000 characters) used to
be `StoreUnavailable`, the "try again later" of a database that is down, so the function
answered 503 and the broker retried an event that could never be recorded.
"""

from __future__ import annotations

import hashlib

import pytest

from shoal.state import (
    Conflict,
    LimitExceeded,
    StateStore,
    StoreUnavailable,
    Transaction,
    run_in_transaction,
)

pytestmark = pytest.mark.postgres

# 8,000 characters that do not compress (PostgreSQL compresses a long index entry first).
LONG = "".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(125))


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_an_event_id_too_long_for_the_inbox_index_is_a_limit_not_an_outage(
    store: StateStore,
) -> None:
    attempts: list[int] = []

    def claim(tx: Transaction) -> object:
        attempts.append(1)
        return tx.inbox_claim("fn", "/s", LONG)

    with pytest.raises(LimitExceeded, match=r"index row size .* SQLSTATE 54000") as refused:
        run_in_transaction(store, claim)

    assert not isinstance(refused.value, Conflict | StoreUnavailable)
    assert len(attempts) == 1  # not re-run: it cannot succeed
    with store.transaction() as tx:  # and the store is as usable as before
        assert tx.inbox_claim("fn", "/s", "short") is None


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_resource_name_too_long_for_its_index_is_a_limit_too(store: StateStore) -> None:
    with pytest.raises(LimitExceeded) as refused, store.transaction() as tx:
        tx.put("Node", LONG, {"n": 1})

    assert not isinstance(refused.value, StoreUnavailable)
    with store.transaction() as tx:
        assert tx.get("Node", LONG) is None
