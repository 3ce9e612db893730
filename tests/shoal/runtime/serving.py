"""Serving the functions of `hostile/robustness.py` as functions-framework serves them, through
Flask's test client, and building the requests that hostile tests send."""

from __future__ import annotations

import json
from pathlib import Path

import flask
import functions_framework
import pytest
from flask.testing import FlaskClient

from shoal.state import open_store

HOSTILE = Path(__file__).parent / "hostile" / "robustness.py"
TYPE = "dev.shoal.test.hostile"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def serve(
    monkeypatch: pytest.MonkeyPatch, target: str, state_url: str, sink: str | None = None
) -> FlaskClient:
    """A test client of functions-framework's app for `target` (as `--source ... --target`)."""
    monkeypatch.setenv("FUNCTION_TARGET", target)  # functions-framework writes it; restore it
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")
    monkeypatch.setenv("SHOAL_STATE_URL", state_url)
    if sink is None:
        monkeypatch.delenv("K_SINK", raising=False)
    else:
        monkeypatch.setenv("K_SINK", sink)
    app: flask.Flask = functions_framework.create_app(target, str(HOSTILE))
    return app.test_client()


def binary(event_id: str = "event-1", source: str = "/tests", **extensions: str) -> dict[str, str]:
    """Binary-mode headers of a hostile event, JSON data; values go as given (not encoded)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": TYPE,
        "Content-Type": "application/json",
    }
    headers.update({f"ce-{name}": value for name, value in extensions.items()})
    return headers


def structured(**members: object) -> bytes:
    """A structured-mode body: a hostile event with `members` added (or replaced)."""
    event = {"specversion": "1.0", "id": "event-1", "source": "/tests", "type": TYPE, **members}
    return json.dumps(event).encode()


def resource(state_url: str, kind: str, name: str) -> object:
    """The body of a resource in the store at `state_url`, None when there is none."""
    store = open_store(state_url)
    try:
        with store.transaction() as tx:
            found = tx.get(kind, name)
    finally:
        store.close()
    return None if found is None else found.body


def recorded(state_url: str, function: str, source: str, event_id: str) -> object:
    """The outbox `function` recorded for (source, event_id), None when it has no inbox entry."""
    store = open_store(state_url)
    try:
        with store.transaction() as tx:
            return tx.inbox_get(function, source, event_id)
    finally:
        store.close()
