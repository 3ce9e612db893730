"""Publishing to K_SINK over HTTP, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml

from local_broker.testing import Received, RecordingSink, Reply, running_broker
from shoal.platform.ports import free_port
from shoal.runtime.errors import PublishError
from shoal.runtime.publisher import HttpPublisher

EVENTS = [
    {"specversion": "1.0", "id": f"e{n}", "source": "/shoal/echo", "type": "t", "data": {"n": n}}
    for n in range(3)
]


async def test_each_event_is_posted_in_structured_mode_in_order() -> None:
    async with RecordingSink() as sink:
        await asyncio.to_thread(HttpPublisher(sink.url).publish, EVENTS)
        received = await sink.wait_for(3)

    assert [json.loads(r.body) for r in received] == EVENTS
    assert {r.headers["Content-Type"] for r in received} == {"application/cloudevents+json"}


async def test_a_refusal_is_a_publish_error_naming_the_status_and_the_answer() -> None:
    async with RecordingSink(lambda _received: Reply(status=429, body=b"slow down")) as sink:
        publisher = HttpPublisher(sink.url)
        with pytest.raises(PublishError, match=r"refused event 'e0' with HTTP 429: slow down"):
            await asyncio.to_thread(publisher.publish, EVENTS)
        assert len(sink.received) == 1  # nothing after the first failure


async def test_an_unreachable_sink_is_a_publish_error() -> None:
    publisher = HttpPublisher(f"http://127.0.0.1:{free_port()}/default/default")

    with pytest.raises(PublishError, match="cannot reach K_SINK"):
        await asyncio.to_thread(publisher.publish, EVENTS[:1])


@asynccontextmanager
async def closing_server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """Answers each connection's first request with a keep-alive 202, then hangs up."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        requests.append(await reader.readexactly(length))
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/", requests


async def test_a_kept_alive_connection_the_sink_closed_is_replaced() -> None:
    async with closing_server() as (url, requests):
        publisher = HttpPublisher(url)
        await asyncio.to_thread(publisher.publish, EVENTS[:1])
        await asyncio.sleep(0.1)  # the server has hung up by now
        await asyncio.to_thread(publisher.publish, EVENTS[1:2])

    assert [json.loads(body)["id"] for body in requests] == ["e0", "e1"]


def test_a_sink_that_is_no_http_url_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not an absolute http"):
        HttpPublisher("broker:8080")


def many_events(count: int, padding: int = 0) -> list[dict[str, object]]:
    return [
        {
            "specversion": "1.0",
            "id": f"b{n}",
            "source": "/shoal/scheduler",
            "type": "dev.shoal.test.batch",
            "datacontenttype": "application/json",
            "data": {"n": n, "pad": "x" * padding},
        }
        for n in range(count)
    ]


def subscriber(name: str, url: str) -> dict[str, object]:
    spec = {"broker": "default", "subscriber": {"uri": url}}
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": spec,
    }


async def test_batch_mode_posts_the_outbox_in_bounded_batches_in_order() -> None:
    events = many_events(1200)
    async with RecordingSink() as sink:
        publisher = HttpPublisher(sink.url, batch=True, max_batch_events=500)
        await asyncio.to_thread(publisher.publish, events)
        received = await sink.wait_for(3)

    assert [r.headers["Content-Type"] for r in received] == [
        "application/cloudevents-batch+json"
    ] * 3
    batches = [json.loads(r.body) for r in received]
    assert [len(batch) for batch in batches] == [500, 500, 200]
    assert [event for batch in batches for event in batch] == events


async def test_in_batch_mode_a_single_event_goes_in_structured_mode() -> None:
    async with RecordingSink() as sink:
        await asyncio.to_thread(HttpPublisher(sink.url, batch=True).publish, EVENTS[:1])
        (received,) = await sink.wait_for(1)

    assert received.headers["Content-Type"] == "application/cloudevents+json"
    assert json.loads(received.body) == EVENTS[0]


async def delivered_through_broker(
    tmp_path: Path, events: list[dict[str, object]], **limits: int
) -> list[Received]:
    """Publish `events` in batch mode to a real local broker; what its Trigger delivered."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    max_event_bytes = limits.pop("max_event_bytes", 1 << 20)
    async with RecordingSink() as sink:
        (manifests / "t.yaml").write_text(yaml.safe_dump(subscriber("all", sink.url)))
        async with running_broker(
            tmp_path / "data", [manifests], max_event_bytes=max_event_bytes
        ) as broker:
            publisher = HttpPublisher(broker.ingress_url(), batch=True, **limits)
            await asyncio.to_thread(publisher.publish, events)
            return await sink.wait_for(len(events), timeout=60)


async def test_the_local_broker_accepts_the_batches_and_delivers_every_event(
    tmp_path: Path,
) -> None:
    events = many_events(1100, padding=200)  # about 300 kB: three batches by count

    received = await delivered_through_broker(tmp_path, events, max_batch_events=500)

    assert sorted(r.event.id for r in received) == sorted(str(e["id"]) for e in events)
    assert {r.event.type for r in received} == {"dev.shoal.test.batch"}


async def test_batches_stay_under_the_brokers_size_limit(tmp_path: Path) -> None:
    events = many_events(40, padding=900)  # about 1 kB each; a 4 kB limit takes 3 per batch

    received = await delivered_through_broker(
        tmp_path, events, max_event_bytes=4096, max_batch_bytes=4096
    )

    assert sorted(r.event.id for r in received) == sorted(str(e["id"]) for e in events)


async def test_a_refused_batch_is_a_publish_error_naming_it(tmp_path: Path) -> None:
    events = many_events(3, padding=5000)
    async with running_broker(tmp_path / "data", max_event_bytes=4096) as broker:
        publisher = HttpPublisher(broker.ingress_url(), batch=True, max_batch_bytes=1 << 20)
        with pytest.raises(PublishError, match=r"refused a batch of 3 events \('b0' first\)"):
            await asyncio.to_thread(publisher.publish, events)
