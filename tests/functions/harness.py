"""Driving orchestration functions as the broker does, without a broker.

Each event is encoded by the cloudevents SDK (binary mode) and handed to the runtime's
`Invoker`, so every delivery goes through the real invocation path: parse, one state
transaction with the inbox check, the handler, the outbox, and publishing. A recording
publisher keeps what was published and a clock the test moves stands for time.

`opened_store` gives each test a store of its own on either backend: a SQLite file, or a fresh
schema on the PostgreSQL server of SHOAL_TEST_POSTGRES_URL (as tests/shoal/state does).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shoal import events
from shoal.model import (
    ALLOCATION,
    LEASE,
    NODE,
    REPLICA,
    Allocation,
    LeaseRecord,
    NodeRecord,
    ReplicaRecord,
)
from shoal.runtime import Target
from shoal.runtime.invoke import Invoker
from shoal.state import StateStore, open_store

START = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
JsonEvent = Mapping[str, Any]
POSTGRES_URL = os.environ.get(
    "SHOAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def opened_store(backend: str, tmp_path: Path) -> Iterator[StateStore]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()
        return
    schema = f"shoal_functions_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
        separator = "&" if "?" in POSTGRES_URL else "?"
        store = open_store(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")
        try:
            yield store
        finally:
            store.close()
            drop = psycopg.sql.SQL("DROP SCHEMA {} CASCADE")
            admin.execute(drop.format(psycopg.sql.Identifier(schema)))


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def timestamp(self) -> float:
        return self.now.timestamp()


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[JsonEvent] = []

    def publish(self, emitted: Sequence[Mapping[str, object]]) -> None:
        self.published.extend(emitted)


class Harness:
    """Delivers events to functions over one store; `send` returns what the function emitted."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.clock = Clock()
        self.publisher = RecordingPublisher()
        self._invokers: dict[str, Invoker] = {}
        self._ids = itertools.count(1)

    def send(
        self,
        target: Target,
        type_: str,
        data: Mapping[str, object] | None = None,
        *,
        source: str = "/tests",
        subject: str | None = None,
        event_id: str | None = None,
        extensions: Mapping[str, str] | None = None,
        status: int = 204,
    ) -> list[JsonEvent]:
        """Deliver one event; assert the function answered `status`; return what it emitted."""
        spec = target.shoal
        invoker = self._invokers.get(spec.name)
        if invoker is None:
            invoker = self._invokers[spec.name] = Invoker(
                spec, self.store, self.publisher, clock=self.clock
            )
        attributes = {"type": type_, "source": source, "id": event_id or f"e{next(self._ids)}"}
        if subject is not None:
            attributes["subject"] = subject
        attributes.update(extensions or {})
        if data is not None:
            attributes["datacontenttype"] = "application/json"
        headers, body = to_binary(CloudEvent(attributes, data))
        before = len(self.publisher.published)
        response = invoker.handle(dict(headers), body)
        assert response.status == status, (response.status, response.body)
        return self.publisher.published[before:]

    def tick(self, target: Target, name: str) -> list[JsonEvent]:
        """One ping from the PingSource `name`, as Knative's PingSource sends it."""
        source = f"/apis/v1/namespaces/default/pingsources/{name}"
        return self.send(target, events.PING, source=source)

    def replica(self, name: str) -> ReplicaRecord:
        with self.store.transaction() as tx:
            resource = tx.get(REPLICA, name)
        assert resource is not None, name
        return ReplicaRecord.from_body(resource.body)

    def node(self, name: str) -> NodeRecord:
        with self.store.transaction() as tx:
            resource = tx.get(NODE, name)
        assert resource is not None, name
        return NodeRecord.from_body(resource.body)

    def lease(self, name: str) -> LeaseRecord:
        with self.store.transaction() as tx:
            resource = tx.get(LEASE, name)
        assert resource is not None, name
        return LeaseRecord.from_body(resource.body)

    def allocations(self, node: str) -> dict[str, Allocation]:
        """What the replicas placed on `node` hold there, by replica."""
        with self.store.transaction() as tx:
            held = [Allocation.from_body(resource.body) for resource in tx.list(ALLOCATION)]
        return {allocation.replica: allocation for allocation in held if allocation.node == node}

    def put_replicas(self, *replicas: ReplicaRecord) -> None:
        """Replica records as deployments creates them before it requests them."""
        with self.store.transaction() as tx:
            for replica in replicas:
                tx.put(REPLICA, replica.name, replica.to_body(), labels=replica.labels())


def of_type(emitted: Sequence[JsonEvent], type_: str) -> list[JsonEvent]:
    return [event for event in emitted if event["type"] == type_]
