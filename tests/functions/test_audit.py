"""The audit function: every dev.shoal.* event recorded once, as an AuditEntry."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.audit import KIND, audit
from local_broker.event import CloudEvent
from local_broker.manifests import load_manifests
from shoal.runtime import Context, Event
from shoal.runtime.invoke import Invoker
from shoal.runtime.logs import FunctionLogger
from shoal.state import StateStore, open_store

START = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def record(store: StateStore, event: Event, at: datetime) -> None:
    with store.transaction() as tx:
        ctx = Context("audit", tx, FunctionLogger("audit"), lambda: at)
        assert audit.shoal.handler(event, ctx) == []


def test_an_entry_keeps_the_event_and_is_labelled_by_type_and_subject(store: StateStore) -> None:
    event = Event(
        id="e1",
        source="/shoal/agents/n1",
        type="dev.shoal.replica.exited",
        subject="web-1",
        time="2026-03-04T05:06:07Z",
        datacontenttype="application/json",
        data={"exit_code": 3},
        extensions={"knativearrivaltime": "2026-03-04T05:06:07.5Z"},
    )

    record(store, event, START)

    with store.transaction() as tx:
        (entry,) = tx.list(KIND, label_selector={"type": "dev.shoal.replica.exited"})
    assert entry.name.startswith("20260304T050607.890123Z-")
    assert entry.labels == {"type": "dev.shoal.replica.exited", "subject": "web-1"}
    assert entry.body == {
        "type": "dev.shoal.replica.exited",
        "source": "/shoal/agents/n1",
        "id": "e1",
        "subject": "web-1",
        "time": "2026-03-04T05:06:07Z",
        "received": "20260304T050607.890123Z",
        "extensions": {"knativearrivaltime": "2026-03-04T05:06:07.5Z"},
        "data": {"exit_code": 3},
    }


def test_binary_data_is_kept_as_base64_and_entries_list_in_handling_order(
    store: StateStore,
) -> None:
    record(
        store, Event(id="b", source="/s", type="dev.shoal.image.pushed", data=b"\x00\xff"), START
    )
    record(store, Event(id="a", source="/s", type="dev.shoal.node.lost"), START + timedelta(1))

    with store.transaction() as tx:
        entries = tx.list(KIND)
    assert [entry.body["id"] for entry in entries] == ["b", "a"]
    assert entries[0].body["data_base64"] == base64.b64encode(b"\x00\xff").decode()
    assert entries[1].body["data"] is None
    assert entries[1].labels == {"type": "dev.shoal.node.lost"}


def test_a_redelivered_event_is_recorded_once(store: StateStore) -> None:
    invoker = Invoker(audit.shoal, store, None, clock=lambda: START)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e1",
        "ce-source": "/tests",
        "ce-type": "dev.shoal.node.joined",
    }

    statuses = [invoker.handle(headers, b"").status for _ in range(2)]

    assert statuses == [204, 204]
    with store.transaction() as tx:
        assert len(tx.list(KIND)) == 1


def test_the_rendered_trigger_takes_every_shoal_event_but_heartbeats() -> None:
    # The Trigger exactly as `shoal manifests` renders it, loaded by the broker's own loader.
    manifests = Path(__file__).parents[2] / "manifests" / "base" / "function-audit.yaml"
    config = load_manifests([manifests], {"audit": "http://127.0.0.1:1/"})
    (audit_trigger,) = config.triggers

    def event(type_: str) -> CloudEvent:
        return CloudEvent({"specversion": "1.0", "id": "1", "source": "/t", "type": type_})

    assert audit_trigger.filter.matches(event("dev.shoal.replica.started"))
    assert not audit_trigger.filter.matches(event("dev.shoal.node.heartbeat"))
    assert not audit_trigger.filter.matches(event("dev.knative.sources.ping"))
