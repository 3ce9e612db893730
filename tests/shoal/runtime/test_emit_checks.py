"""Emitted events are checked before they are committed, and a loop's exhausted TTL drops them.

Served by functions-framework's app (Flask's test client) with a recording K_SINK: before these
checks, an event the broker refuses was committed with the state change and the inbox entry,
and every retry re-published it, to be refused again (503 forever).
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from local_broker.binding import decode_request
from local_broker.stamping import next_ttl
from local_broker.testing import RecordingSink
from shoal.runtime.event import Event
from shoal.runtime.ids import emitted_event_id
from shoal.runtime.outbox import MAX_EVENT_BYTES, exhausted_ttl

from .serving import STRUCTURED, binary, recorded, resource, serve, structured


def post_told(client: FlaskClient, told: dict[str, object], **extensions: str) -> TestResponse:
    return client.post("/", headers=binary(**extensions), data=json.dumps(told))


def log_lines(json_log: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in json_log.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("told", "attribute"),
    [
        ({"type": ""}, "type"),
        ({"subject": ""}, "subject"),
        ({"extensions": {"shoalnode": {"node": "n1"}}}, "shoalnode"),
        ({"extensions": {"count": 2**31}}, "count"),
        ({"extensions": {"count": -(2**31) - 1}}, "count"),
        ({"extensions": {"ratio": 0.5}}, "ratio"),
        ({"subject": "web\u0000-1"}, "subject"),
        ({"subject": "web\u0007-1"}, "subject"),
        ({"type": "dev.\u0085x"}, "type"),
        ({"extensions": {"note": "\ud800"}}, "note"),
        ({"extensions": {"Node": "n1"}}, "Node"),
        ({"padding": MAX_EVENT_BYTES}, "data"),
    ],
    ids=[
        "empty-type",
        "empty-subject",
        "object-extension",
        "int-above-32-bit",
        "int-below-32-bit",
        "float-extension",
        "nul",
        "control-character",
        "c1-control",
        "lone-surrogate",
        "bad-name",
        "over-1-mib",
    ],
)
async def test_an_event_the_broker_would_refuse_fails_the_invocation_and_commits_nothing(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    json_log: io.StringIO,
    told: dict[str, object],
    attribute: str,
) -> None:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    async with RecordingSink() as sink:
        client = serve(monkeypatch, "emit_as_told", state_url, sink.url)

        first = await asyncio.to_thread(post_told, client, told)
        again = await asyncio.to_thread(post_told, client, told)

    assert (first.status_code, again.status_code) == (500, 500)
    error = first.get_json()["error"]
    emitted_id = emitted_event_id("emit_as_told", "/tests", "event-1", 0)
    assert error.startswith("emit_as_told emitted an invalid event (number 0, type ")
    assert emitted_id in error
    assert sink.received == []
    assert resource(state_url, "Marker", "event-1") is None  # the state change rolled back
    assert recorded(state_url, "emit_as_told", "/tests", "event-1") is None  # so did the inbox
    failures = log_lines(json_log)
    assert len(failures) == 2  # one line per delivery
    assert failures[0]["message"] == "emitted an invalid event"
    assert failures[0]["level"] == "error"
    assert (failures[0]["emitted_id"], failures[0]["attribute"]) == (emitted_id, attribute)
    assert failures[0]["event_id"] == "event-1"


async def test_values_at_the_edge_of_the_rules_are_published_and_the_broker_takes_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    told = {
        "subject": "café ✓",
        "extensions": {"high": 2**31 - 1, "low": -(2**31), "flag": True, "empty": ""},
        "padding": MAX_EVENT_BYTES - 400,
    }
    async with RecordingSink() as sink:
        client = serve(monkeypatch, "emit_as_told", f"sqlite:///{tmp_path / 'state.db'}", sink.url)

        response = await asyncio.to_thread(post_told, client, told)
        (published,) = await sink.wait_for(1)

    assert response.status_code == 204
    assert len(published.body) <= MAX_EVENT_BYTES
    (event,) = decode_request(published.headers, published.body)  # what the broker's ingress does
    assert event.attributes["subject"] == "café ✓"
    assert (event.attributes["high"], event.attributes["low"]) == (2**31 - 1, -(2**31))


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (binary(knativebrokerttl="1"), json.dumps({})),
        (binary(knativebrokerttl="0"), json.dumps({})),
        (binary(knativebrokerttl=" 1"), json.dumps({})),
        (STRUCTURED, structured(knativebrokerttl=1, data={})),
    ],
    ids=["one", "zero", "spaced", "structured-integer"],
)
async def test_with_an_exhausted_ttl_emitted_events_are_dropped_and_the_invocation_succeeds(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    json_log: io.StringIO,
    headers: dict[str, str],
    body: str | bytes,
) -> None:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    async with RecordingSink() as sink:
        client = serve(monkeypatch, "emit_as_told", state_url, sink.url)

        first = await asyncio.to_thread(client.post, "/", headers=headers, data=body)
        again = await asyncio.to_thread(client.post, "/", headers=headers, data=body)

    assert (first.status_code, again.status_code) == (204, 204)
    assert sink.received == []
    assert resource(state_url, "Marker", "event-1") == {"handled": True}  # the state committed
    assert recorded(state_url, "emit_as_told", "/tests", "event-1") == []  # and an empty outbox
    dropped = [line for line in log_lines(json_log) if line["level"] == "warning"]
    assert len(dropped) == 1  # logged once: the redelivery finds nothing to drop
    assert dropped[0]["level"] == "warning"
    assert dropped[0]["dropped"] == 1
    assert "TTL is exhausted" in str(dropped[0]["message"])


@pytest.mark.parametrize("ttl", ["2", "255", "x"])
async def test_a_ttl_with_hops_left_travels_with_the_emitted_events(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ttl: str
) -> None:
    async with RecordingSink() as sink:
        client = serve(monkeypatch, "emit_as_told", f"sqlite:///{tmp_path / 'state.db'}", sink.url)

        response = await asyncio.to_thread(post_told, client, {}, knativebrokerttl=ttl)
        (published,) = await sink.wait_for(1)

    assert response.status_code == 204
    assert json.loads(published.body)["knativebrokerttl"] == ttl


@pytest.mark.parametrize(
    "ttl",
    [
        *("-3", "0", "1", " 1 ", "+1", "2", "255", "1000", "x", "", "1.0", "0_1", "\u0661"),
        *("-3000000000", 0, 1, 2, -(2**31), -(2**31) - 1, True, False, None),
    ],
)
def test_a_ttl_is_exhausted_exactly_when_the_brokers_ingress_would_refuse_the_event(
    ttl: object,
) -> None:
    event = Event(id="1", source="/s", type="t", extensions={"knativebrokerttl": ttl})

    assert (exhausted_ttl(event) is not None) == (next_ttl(ttl) <= 0)
