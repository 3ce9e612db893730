"""One invocation end to end, without HTTP: parse, transaction, inbox, outbox, publish."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable

import pytest
from cloudevents.http import from_http

from shoal.runtime.ids import emitted_event_id
from shoal.runtime.invoke import Invoker
from shoal.state import StateStore

from .conftest import RecordingPublisher, counter, encode


def test_emitted_events_are_published_in_the_json_format(
    make_invoker: Callable[..., Invoker], publisher: RecordingPublisher, mode: str
) -> None:
    headers, body = encode(mode, "dev.shoal.test.echo", {"emit": 2}, subject="web-1")

    response = make_invoker("echo").handle(headers, body)

    assert (response.status, response.body) == (204, b"")
    assert publisher.published == [
        {
            "specversion": "1.0",
            "id": emitted_event_id("echo", "/tests", "event-1", index),
            "source": "/shoal/echo",
            "type": "dev.shoal.test.echoed",
            "time": "2026-01-02T03:04:05.678901Z",
            "subject": "web-1",
            "shoalnode": "node-1",
            "datacontenttype": "application/json",
            "data": {"index": index, "input": "event-1"},
        }
        for index in range(2)
    ]


def test_emitted_ids_depend_only_on_function_input_and_position() -> None:
    first = emitted_event_id("echo", "/tests", "event-1", 0)
    assert first == emitted_event_id("echo", "/tests", "event-1", 0)
    others = {
        emitted_event_id("echo", "/tests", "event-1", 1),
        emitted_event_id("echo", "/tests", "event-2", 0),
        emitted_event_id("echo", "/other", "event-1", 0),
        emitted_event_id("refuse", "/tests", "event-1", 0),
        emitted_event_id("echo", "/tests/event-1", "", 0),  # no ambiguity in joining
    }
    assert first not in others
    assert len(others) == 5


def test_a_redelivered_event_republishes_the_recorded_outbox_without_running_the_handler(
    make_invoker: Callable[..., Invoker], publisher: RecordingPublisher, store: StateStore
) -> None:
    invoker = make_invoker("echo")
    headers, body = encode("binary", "dev.shoal.test.echo", {"emit": 1})

    statuses = [invoker.handle(headers, body).status for _ in range(3)]

    assert statuses == [204, 204, 204]
    assert counter(store, "echo") == 1
    assert len(publisher.published) == 3
    assert publisher.published[0] == publisher.published[1] == publisher.published[2]


def test_a_failed_publish_answers_503_and_the_retry_publishes_the_same_events(
    make_invoker: Callable[..., Invoker], publisher: RecordingPublisher, store: StateStore
) -> None:
    invoker = make_invoker("echo")
    headers, body = encode("structured", "dev.shoal.test.echo", {"emit": 2})
    publisher.failing = True

    failed = invoker.handle(headers, body)

    assert failed.status == 503
    assert "K_SINK" in json.loads(failed.body)["error"]
    assert counter(store, "echo") == 1  # the state change is committed with the outbox
    publisher.failing = False
    assert invoker.handle(headers, body).status == 204
    assert counter(store, "echo") == 1
    assert [event["id"] for event in publisher.published] == [
        emitted_event_id("echo", "/tests", "event-1", index) for index in range(2)
    ]


def test_concurrent_deliveries_of_one_event_run_the_handler_once(
    make_invoker: Callable[..., Invoker], publisher: RecordingPublisher, store: StateStore
) -> None:
    invoker = make_invoker("echo")
    headers, body = encode("binary", "dev.shoal.test.echo", {"emit": 1})
    statuses: list[int] = []
    start = threading.Barrier(6)

    def deliver() -> None:
        start.wait(timeout=10)
        statuses.append(invoker.handle(headers, body).status)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [204] * 6
    assert counter(store, "echo") == 1
    assert len({event["id"] for event in publisher.published}) == 1


def test_a_handler_exception_answers_500_logs_one_json_line_and_commits_nothing(
    make_invoker: Callable[..., Invoker], store: StateStore, json_log: io.StringIO
) -> None:
    invoker = make_invoker("broken")
    headers, body = encode("binary", "dev.shoal.test.broken", subject="web-1")

    first, second = invoker.handle(headers, body), invoker.handle(headers, body)

    assert (first.status, second.status) == (500, 500)
    assert json.loads(first.body) == {
        "error": "handler failed: RuntimeError: cannot handle event-1",
        "function": "broken",
    }
    assert counter(store, "broken") == 0  # rolled back, and not in the inbox: it ran again
    lines = json_log.getvalue().splitlines()
    assert len(lines) == 2
    line = json.loads(lines[0])
    assert line["level"] == "error"
    assert line["message"] == "handler failed"
    assert (line["function"], line["event_id"], line["event_type"]) == (
        "broken",
        "event-1",
        "dev.shoal.test.broken",
    )
    assert "RuntimeError: cannot handle event-1" in line["traceback"]


def test_a_permanent_error_answers_422_which_knative_does_not_retry(
    make_invoker: Callable[..., Invoker], store: StateStore
) -> None:
    response = make_invoker("refuse").handle(*encode("binary", "dev.shoal.test.refused"))

    assert response.status == 422
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body)["error"] == ("permanent failure: event-1 can never be handled")
    assert counter(store, "refuse") == 0


@pytest.mark.parametrize(
    ("headers", "body", "says"),
    [
        ({}, b"hello", "missing ce-specversion, ce-id, ce-source, ce-type"),
        ({"Content-Type": "application/json"}, b'{"a": 1}', "binary mode"),
        (
            {"ce-specversion": "1.0", "ce-source": "/tests", "ce-type": "t"},
            b"",
            "missing ce-id",
        ),
        ({"ce-specversion": "2.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}, b"", "2.0"),
        (
            {"Content-Type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "1", "type": "t"}',
            "source",
        ),
        ({"Content-Type": "application/cloudevents+json"}, b"{not json", "structured mode"),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "/s",
                "ce-type": "t",
                "ce-time": "now",
            },
            b"",
            "Time 'now' is not an RFC 3339 timestamp; write it like 2024-05-01T12:00:00Z",
        ),
        (
            {"Content-Type": "application/cloudevents-batch+json"},
            b'[{"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}]',
            "batched mode",
        ),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "/s",
                "ce-type": "dev.shoal.test.echo",
                "Content-Type": "application/json",
            },
            b"{not json",
            "not valid JSON",
        ),
    ],
)
def test_a_request_that_is_no_cloudevent_gets_400_saying_why(
    make_invoker: Callable[..., Invoker], headers: dict[str, str], body: bytes, says: str
) -> None:
    response = make_invoker("echo").handle(headers, body)

    assert response.status == 400
    assert says in json.loads(response.body)["error"]


def test_without_a_sink_the_one_emitted_event_is_the_binary_reply(
    make_invoker: Callable[..., Invoker], mode: str
) -> None:
    headers, body = encode(mode, "dev.shoal.test.echo", {"emit": 1}, subject="café")

    response = make_invoker("echo", with_sink=False).handle(headers, body)

    assert response.status == 200
    assert response.headers["ce-subject"] == "caf%C3%A9"  # HTTP binding 3.1.3.2
    assert response.headers["Content-Type"] == "application/json"
    reply = from_http(dict(response.headers), response.body)
    assert reply["id"] == emitted_event_id("echo", "/tests", "event-1", 0)
    assert reply["type"] == "dev.shoal.test.echoed"
    assert reply.get_data() == {"index": 0, "input": "event-1"}


def test_without_a_sink_no_event_means_an_empty_2xx(
    make_invoker: Callable[..., Invoker],
) -> None:
    response = make_invoker("echo", with_sink=False).handle(
        *encode("binary", "dev.shoal.test.echo", {"emit": 0})
    )

    assert (response.status, dict(response.headers), response.body) == (204, {}, b"")


def test_without_a_sink_two_events_fail_saying_to_set_k_sink_and_commit_nothing(
    make_invoker: Callable[..., Invoker], store: StateStore
) -> None:
    response = make_invoker("echo", with_sink=False).handle(
        *encode("binary", "dev.shoal.test.echo", {"emit": 2})
    )

    assert response.status == 500
    assert "set K_SINK" in json.loads(response.body)["error"]
    assert counter(store, "echo") == 0


def test_emitted_events_carry_the_input_ttl_so_loops_through_k_sink_run_out(
    make_invoker: Callable[..., Invoker], publisher: RecordingPublisher
) -> None:
    headers, body = encode("binary", "dev.shoal.test.echo", {"emit": 1})
    headers["ce-knativebrokerttl"] = "17"

    make_invoker("echo").handle(headers, body)

    assert publisher.published[0]["knativebrokerttl"] == "17"
