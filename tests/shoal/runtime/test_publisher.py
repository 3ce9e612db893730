"""Publishing to K_SINK over HTTP, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from local_broker.testing import RecordingSink, Reply
from shoal.runtime.errors import PublishError
from shoal.runtime.publisher import HttpPublisher
from tests.e2e.conftest import free_port

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
