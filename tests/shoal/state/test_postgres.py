"""PostgreSQL-only behaviour of the state store (the shared contract is in test_contract.py)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from shoal.state import StateStore, Transaction, open_store, run_in_transaction
from tests.shoal.state.conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres


def terminate(application: str) -> int:
    """What a server restart does to the store's pooled connections: close them."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchall()
    return len(rows)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_pooled_connections_the_server_closed_cost_no_failed_transaction(store_url: str) -> None:
    application = f"shoal_test_{uuid.uuid4().hex[:8]}"
    store: StateStore = open_store(f"{store_url}&application_name={application}")
    try:
        with store.transaction() as tx:
            tx.put("node", "n1", {"n": 1})
        assert terminate(application) >= 1

        def read(tx: Transaction) -> object:
            resource = tx.get("node", "n1")
            return None if resource is None else resource.body

        assert run_in_transaction(store, read) == {"n": 1}
    finally:
        store.close()
