"""The publisher's HTTP client against canned answers from a real socket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import pytest

from shoal.runtime.sink_client import BadAnswerError, SinkConnection, request_head

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def canned(answers: Sequence[bytes]) -> AsyncIterator[tuple[int, list[bytes]]]:
    """Answers the n-th request on a connection with `answers[n]`; an answer ending in b"|"
    is sent without the bar and the connection closed. Records every request it reads."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            requests.append(head + await reader.readexactly(length))
            writer.write(answer.removesuffix(b"|"))
            await writer.drain()
            if answer.endswith(b"|"):
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], requests


def post_all(port: int, bodies: Sequence[bytes]) -> list[tuple[int, bytes]]:
    head = request_head("127.0.0.1", port, 80, "/ns/broker", "application/cloudevents+json")
    connection = SinkConnection("127.0.0.1", port, timeout=10)
    try:
        return [connection.post(head, body) for body in bodies]
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", (202, b"")),
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nwrong", (400, b"wrong")),
        (
            b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            (500, b"abcde"),
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", (204, b"")),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end|", (200, b"until the end")),
    ],
    ids=["length", "error-body", "chunked", "interim-1xx", "ended-by-close"],
)
async def test_answers_are_read_whatever_their_framing(
    answer: bytes, expected: tuple[int, bytes]
) -> None:
    async with canned([answer]) as (port, requests):
        (result,) = await asyncio.to_thread(post_all, port, [b'{"id":"e1"}'])

    assert result == expected
    assert requests == [
        b"POST /ns/broker HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
        b"Content-Type: application/cloudevents+json\r\nContent-Length: 11\r\n\r\n"
        b'{"id":"e1"}' % port
    ]


async def test_one_connection_carries_several_requests() -> None:
    accepted = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
    async with canned([accepted] * 3) as (port, requests):
        results = await asyncio.to_thread(post_all, port, [b"a", b"bb", b"c" * 100_000])

    assert results == [(202, b"")] * 3
    assert [request.rpartition(b"\r\n\r\n")[2] for request in requests] == [
        b"a",
        b"bb",
        b"c" * 100_000,
    ]


async def test_answers_of_different_framing_follow_each_other_on_one_connection() -> None:
    answers = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nwrong",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ]
    async with canned(answers) as (port, _requests):
        results = await asyncio.to_thread(post_all, port, [b"a", b"b", b"c", b"d"])

    assert results == [(202, b""), (500, b"abc"), (400, b"wrong"), (204, b"")]


async def test_a_connection_closed_before_answering_is_an_os_error() -> None:
    async with canned([b"|"]) as (port, _requests):
        with pytest.raises(ConnectionResetError, match="closed the connection before answering"):
            await asyncio.to_thread(post_all, port, [b"x"])


async def test_a_connection_closed_after_an_interim_answer_is_an_os_error() -> None:
    async with canned([b"HTTP/1.1 100 Continue\r\n\r\n|"]) as (port, _requests):
        with pytest.raises(ConnectionResetError, match="closed the connection before answering"):
            await asyncio.to_thread(post_all, port, [b"x"])


async def test_an_answer_that_is_not_http_is_refused() -> None:
    async with canned([b"SMTP ready\r\n\r\n"]) as (port, _requests):
        with pytest.raises(BadAnswerError, match=r"not HTTP/1\.1"):
            await asyncio.to_thread(post_all, port, [b"x"])


def test_the_host_header_leaves_out_the_default_port_and_brackets_ipv6() -> None:
    assert request_head("broker", None, 80, "/", "a/b").startswith(
        b"POST / HTTP/1.1\r\nHost: broker\r\n"
    )
    assert b"Host: [::1]:8080\r\n" in request_head("::1", 8080, 80, "/", "a/b")


async def timed_out_post(serve: Serve, timeout: float, says: str) -> None:
    """Post to a sink that `serve`s each connection; the post must time out saying `says`, and
    the connection be closed."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    head = request_head("127.0.0.1", port, 80, "/", "application/cloudevents+json")
    async with server:
        connection = SinkConnection("127.0.0.1", port, timeout=timeout)
        with pytest.raises(TimeoutError, match=says):
            await asyncio.to_thread(connection.post, head, b"{}")
    assert not connection.open


async def test_a_sink_that_never_answers_times_out() -> None:
    async def listen(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # takes the request and never answers
        await asyncio.sleep(30)

    await timed_out_post(listen, 0.2, "did not answer in time")


async def test_a_sink_that_trickles_its_answer_times_out_all_the_same() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        for byte in b"HTTP/1.1 202 Accepted\r\nX-Slow: " + b"z" * 100:
            writer.write(bytes([byte]))  # each byte well within the per-read timeout
            await writer.drain()
            await asyncio.sleep(0.05)

    await timed_out_post(trickle, 0.5, r"not complete 0\.5 s after the request")
