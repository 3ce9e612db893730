"""What the delivery client keeps of a response body: a 2xx body up to `max_body_bytes`, any
other up to ERROR_BODY_BYTES; the rest is read, dropped and counted, and the status stands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from local_broker.http.client import ClientResponse, HttpClient
from local_broker.http.client_connection import ERROR_BODY_BYTES
from tests.local_broker.http.conftest import raw_server, read_request

MAX_BODY = 100_000
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def requests_to(
    handle: Handler, count: int = 1, max_body_bytes: int = MAX_BODY
) -> list[ClientResponse]:
    """`count` requests, one after the other, from a client keeping bodies up to the bound."""
    client = HttpClient(max_body_bytes=max_body_bytes)
    try:
        async with raw_server(handle) as url:
            return [await client.request("POST", url, {}, b"", 10.0) for _ in range(count)]
    finally:
        await client.close()


def _answer(status: int, size: int, *, chunked: bool) -> bytes:
    if chunked:
        piece = b"%x\r\n%s\r\n" % (1000, b"b" * 1000)
        return (
            b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n" % status
            + piece * (size // 1000)
            + b"0\r\n\r\n"
        )
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, size, b"b" * size)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("status", "kept"), [(200, MAX_BODY), (503, ERROR_BODY_BYTES)], ids=["2xx", "error"]
)
async def test_a_large_body_is_read_to_its_end_and_kept_up_to_its_bound(
    status: int, kept: int, chunked: bool
) -> None:
    size = 3_000_000
    connections: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        for _ in range(2):  # the connection stays in step: a second request on it
            await read_request(reader)
            writer.write(_answer(status, size, chunked=chunked))
            await writer.drain()
        await reader.read()

    responses = await requests_to(handle, 2)
    assert len(connections) == 1
    for response in responses:
        assert response.status == status
        assert (len(response.body), response.body_dropped) == (kept, size - kept)


async def test_a_body_within_the_bound_is_kept_whole() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(_answer(200, MAX_BODY, chunked=False))
        await writer.drain()
        await reader.read()

    (response,) = await requests_to(handle)
    assert (len(response.body), response.body_dropped) == (MAX_BODY, 0)


async def test_a_transfer_coding_other_than_chunked_leaves_the_body_to_the_close() -> None:
    # RFC 9112 section 6.3: the body of such a response ends when the server closes.
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 503 X\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nzz")
        await writer.drain()
        writer.close()

    (response,) = await requests_to(handle)
    assert (response.status, response.body) == (503, b"zz")
