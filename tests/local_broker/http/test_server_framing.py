"""Request framing and targets the server must get right (RFC 9112), and what a connection
holds in memory while a body arrives and after it closes."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from local_broker.http.message import Headers, Request
from tests.local_broker.http.test_server import closed_by_server, post, read_response, serving


async def test_http_1_0_with_transfer_encoding_is_answered_then_closed() -> None:
    # RFC 9112 section 6.1: such framing is faulty; close after the message even if asked not to.
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(
            b"POST /e HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n" + post("/after", b"")
        )
        status, headers, body = await read_response(reader)
        assert (status, json.loads(body)["body"]) == (201, "abc")
        assert headers["connection"] == "close"
        assert await closed_by_server(reader)


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/default/default", "/default/default"),
        ("http://127.0.0.1:8080/default/default", "/default/default"),
        ("http://127.0.0.1:8080/default/default?x=1", "/default/default"),
        ("https://broker.example/a/b", "/a/b"),
        ("http://127.0.0.1:8080", "/"),
        ("http://127.0.0.1:8080?x=/y", "/"),
        ("*", "*"),
    ],
)
def test_the_path_of_origin_and_absolute_form_targets(target: str, path: str) -> None:
    # RFC 9112 section 3.2.2: a server must accept the absolute form too.
    assert Request("POST", target, Headers([]), b"").path == path


async def test_an_absolute_form_target_is_served() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(
            b"POST http://127.0.0.1/slow?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0"
            b"\r\n\r\n"
        )
        status, _headers, body = await read_response(reader)
        assert status == 201
        answer = json.loads(body)
        assert (answer["target"], answer["path"]) == ("http://127.0.0.1/slow?q=1", "/slow")
        writer.close()


@contextmanager
def traced_without_collections() -> Iterator[list[int]]:
    """Bytes allocated and still held since entry, with the cyclic garbage collector off (the
    broker collects rarely: garbage in a reference cycle would stay); the list gets the figure."""
    held: list[int] = []
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        yield held
        held.append(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()
        gc.enable()


async def _send_chunks(writer: asyncio.StreamWriter, count: int, size: int) -> None:
    for _ in range(count):
        writer.write(b"%x\r\n%s\r\n" % (size, b"x" * size))
    await writer.drain()


async def test_a_connection_closed_mid_body_leaves_nothing_behind() -> None:
    async with serving() as connect:
        with traced_without_collections() as held:
            for _ in range(3):
                _reader, writer = await connect()
                writer.write(b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                await _send_chunks(writer, 200, 2048)  # 400 KiB of a body, never finished
                await asyncio.sleep(0.3)  # the server reads it
                writer.close()
                await writer.wait_closed()
            await asyncio.sleep(0.3)  # the server sees the connections close
    assert held[0] < 300_000, f"{held[0]:,} bytes still held after 1.2 MB of abandoned bodies"


async def test_a_body_in_tiny_pieces_costs_no_more_than_the_body() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        with traced_without_collections() as held:
            await _send_chunks(writer, 50_000, 2)  # 100 KB of body in 2-byte chunks
            await asyncio.sleep(0.5)  # the server reads it
        writer.write(b"0\r\n\r\n")
        status, _headers, body = await read_response(reader)
        writer.close()
    assert (status, len(json.loads(body)["body"])) == (201, 100_000)
    assert held[0] < 400_000, f"{held[0]:,} bytes held for a body of 100,000"
