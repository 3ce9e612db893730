"""The functions-framework adapter: the sample functions served by functions-framework's own app
(as `functions-framework --source ... --target ...` builds it), through Flask's test client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import flask
import functions_framework
import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from local_broker.testing import RecordingSink
from shoal.runtime.ids import emitted_event_id

from .conftest import SAMPLES


def serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, target: str, sink: str | None
) -> flask.Flask:
    monkeypatch.setenv("FUNCTION_TARGET", target)  # functions-framework writes it; restore it
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")
    monkeypatch.setenv("SHOAL_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    if sink is None:
        monkeypatch.delenv("K_SINK", raising=False)
    else:
        monkeypatch.setenv("K_SINK", sink)
    app: flask.Flask = functions_framework.create_app(target, str(SAMPLES / "emitting.py"))
    return app


def echo_request(emit: int) -> tuple[dict[str, str], bytes]:
    attributes = {
        "type": "dev.shoal.test.echo",
        "source": "/tests",
        "id": "event-1",
        "datacontenttype": "application/json",
    }
    headers, body = to_binary(CloudEvent(attributes, {"emit": emit}))
    return dict(headers), body


async def test_served_by_functions_framework_it_publishes_to_k_sink(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with RecordingSink() as sink:
        client = serve(monkeypatch, tmp_path, "echo", sink.url).test_client()
        headers, body = echo_request(emit=1)

        response = await asyncio.to_thread(client.post, "/", headers=headers, data=body)
        received = await sink.wait_for(1)

    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers  # an empty 2xx: no reply, for Knative
    assert json.loads(received[0].body)["id"] == emitted_event_id("echo", "/tests", "event-1", 0)


async def test_with_sink_batch_on_the_outbox_is_posted_as_one_batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHOAL_SINK_BATCH", "1")
    async with RecordingSink() as sink:
        client = serve(monkeypatch, tmp_path, "echo", sink.url).test_client()
        headers, body = echo_request(emit=3)

        response = await asyncio.to_thread(client.post, "/", headers=headers, data=body)
        (received,) = await sink.wait_for(1)

    assert response.status_code == 204
    assert received.headers["Content-Type"] == "application/cloudevents-batch+json"
    assert [event["id"] for event in json.loads(received.body)] == [
        emitted_event_id("echo", "/tests", "event-1", index) for index in range(3)
    ]


def test_without_k_sink_the_reply_is_in_binary_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = serve(monkeypatch, tmp_path, "echo", None).test_client()
    headers, body = echo_request(emit=1)

    response = client.post("/", headers=headers, data=body)

    assert response.status_code == 200
    assert response.headers["ce-type"] == "dev.shoal.test.echoed"
    assert response.headers["ce-source"] == "/shoal/echo"
    assert response.get_json() == {"index": 0, "input": "event-1"}


def test_a_permanent_error_is_a_json_422(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client = serve(monkeypatch, tmp_path, "refuse", None).test_client()
    headers, body = to_binary(
        CloudEvent({"type": "dev.shoal.test.refused", "source": "/tests", "id": "r1"})
    )

    response = client.post("/", headers=dict(headers), data=body)

    assert response.status_code == 422
    assert response.get_json() == {
        "error": "permanent failure: r1 can never be handled",
        "function": "refuse",
    }


def test_get_says_which_function_runs_and_other_methods_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = serve(monkeypatch, tmp_path, "echo", None).test_client()

    assert client.get("/").get_json() == {
        "function": "echo",
        "service": "echo",
        "source": "/shoal/echo",
    }
    refused = client.put("/", data=b"")
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, HEAD, POST")


def test_a_state_store_that_cannot_be_opened_answers_503_until_it_can(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = serve(monkeypatch, tmp_path, "echo", None).test_client()
    monkeypatch.setenv("SHOAL_STATE_URL", f"sqlite:///{tmp_path / 'missing' / 'state.db'}")
    headers, body = echo_request(emit=0)

    refused = client.post("/", headers=headers, data=body)
    (tmp_path / "missing").mkdir()
    accepted = client.post("/", headers=headers, data=body)

    assert refused.status_code == 503
    assert "cannot open the state store" in refused.get_json()["error"]
    assert accepted.status_code == 204
