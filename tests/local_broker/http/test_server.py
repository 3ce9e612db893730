"""The HTTP server over raw sockets: keep-alive, pipelining, limits, slow and broken clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from local_broker.http.message import Request, Response, json_response
from local_broker.http.server import HttpServer, ServerLimits

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def echo(request: Request) -> Response:
    """Answers with what it got; `/slow` waits first, `/boom` fails."""
    if request.path == "/slow":
        await asyncio.sleep(0.2)
    if request.path == "/boom":
        raise RuntimeError("boom")
    return json_response(
        {
            "method": request.method,
            "target": request.target,
            "path": request.path,
            "body": None if request.body is None else request.body.decode(),
            "headers": list(request.headers.items()),
        },
        201,
    )


@asynccontextmanager
async def serving(
    limits: ServerLimits | None = None,
) -> AsyncIterator[Callable[[], Awaitable[Connection]]]:
    server = HttpServer(echo, limits)
    port = await server.start("127.0.0.1", 0)

    async def connect() -> Connection:
        return await asyncio.open_connection("127.0.0.1", port)

    try:
        yield connect
    finally:
        await server.close(grace_seconds=0.5)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def post(path: str, body: bytes, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), 5.0) == b""
    except ConnectionResetError:
        return True


async def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        for index in range(3):
            writer.write(post(f"/n/{index}", b"abc", "Ce-Id: x"))
            status, headers, body = await read_response(reader)
            answer = json.loads(body)
            assert status == 201
            assert headers["content-type"] == "application/json; charset=utf-8"
            assert "date" in headers
            assert answer["target"] == f"/n/{index}"
            assert answer["body"] == "abc"
            assert ["ce-id", "x"] in answer["headers"]  # names lowercased
        writer.close()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(post("/slow", b"1") + post("/fast", b"2") + post("/slow", b"3"))
        bodies = [json.loads((await read_response(reader))[2])["body"] for _ in range(3)]
        assert bodies == ["1", "2", "3"]
        writer.close()


async def test_chunked_request_body() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(
            b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
        status, _headers, body = await read_response(reader)
        assert (status, json.loads(body)["body"]) == (201, "abcde")
        writer.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_not_read_and_the_connection_closes(
    chunked: bool,
) -> None:
    async with serving(ServerLimits(max_body_bytes=100)) as connect:
        reader, writer = await connect()
        if chunked:
            writer.write(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"80\r\n" + b"x" * 128 + b"\r\n")
        else:
            writer.write(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
            writer.write(b"x" * 4096)  # the rest never comes: the server must not wait for it
        status, headers, body = await read_response(reader)
        assert status == 201
        assert json.loads(body)["body"] is None  # the handler decides (the broker says 413)
        assert headers["connection"] == "close"
        assert await closed_by_server(reader)


async def test_expect_100_continue() -> None:
    async with serving(ServerLimits(max_body_bytes=100)) as connect:
        reader, writer = await connect()
        writer.write(
            b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"abc")
        status, _headers, body = await read_response(reader)
        assert (status, json.loads(body)["body"]) == (201, "abc")
        # Too large: the final answer instead of 100, without waiting for the body.
        writer.write(
            b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 999\r\nExpect: 100-continue\r\n\r\n"
        )
        status, _headers, body = await read_response(reader)
        assert (status, json.loads(body)["body"]) == (201, None)
        writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 200 + b"\r\n", 431),
        (
            b"GET / HTTP/1.1\r\n"
            + b"".join(b"X-%d: %s\r\n" % (i, b"c" * 8000) for i in range(9))
            + b"\r\n",
            431,
        ),
        (b"GET / HTTP/1.1\r\nX-Endless: " + b"d" * 2_000_000, 431),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ],
    ids=[
        "long-url",
        "long-field",
        "many-fields",
        "big-head",
        "endless-field",
        "garbage",
        "two-lengths",
        "upgrade",
        "unknown-transfer-coding",
    ],
)
async def test_bad_requests_are_refused_and_the_connection_closed(
    request_bytes: bytes, status: int
) -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(request_bytes)
        answer, headers, body = await read_response(reader)
        assert answer == status
        assert "error" in json.loads(body)
        assert headers["connection"] == "close"
        assert await closed_by_server(reader)
        # The server is still fine.
        reader, writer = await connect()
        writer.write(post("/ok", b""))
        assert (await read_response(reader))[0] == 201
        writer.close()


async def test_a_handler_that_raises_gets_a_500_and_the_connection_lives_on() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(post("/boom", b""))
        status, _headers, body = await read_response(reader)
        assert status == 500
        assert "error" in json.loads(body)
        writer.write(post("/ok", b""))
        assert (await read_response(reader))[0] == 201
        writer.close()


async def test_a_slow_client_gets_408_and_an_idle_one_is_closed() -> None:
    limits = ServerLimits(request_seconds=0.3, idle_seconds=0.3)
    async with serving(limits) as connect:
        slow_reader, slow_writer = await connect()
        slow_writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        idle_reader, _idle_writer = await connect()
        status, headers, _body = await read_response(slow_reader)
        assert (status, headers["connection"]) == (408, "close")
        assert await closed_by_server(slow_reader)
        assert await closed_by_server(idle_reader)


async def test_connection_close_and_http_1_0() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(post("/a", b"", "Connection: close"))
        status, headers, _body = await read_response(reader)
        assert (status, headers["connection"]) == (201, "close")
        assert await closed_by_server(reader)

        reader, writer = await connect()
        writer.write(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _body = await read_response(reader)
        assert (status, headers["connection"]) == (201, "keep-alive")
        writer.write(b"GET /b HTTP/1.0\r\n\r\n")
        status, headers, _body = await read_response(reader)
        assert (status, headers["connection"]) == (201, "close")
        assert await closed_by_server(reader)


async def test_head_answers_without_a_body() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        assert head.startswith(b"HTTP/1.1 201 ")
        assert b"Content-Length: " in head
        writer.write(post("/after", b""))
        status, _headers, body = await read_response(reader)  # no stray body in between
        assert (status, json.loads(body)["target"]) == (201, "/after")
        writer.close()


async def test_a_client_that_half_closes_still_gets_its_answer() -> None:
    async with serving() as connect:
        reader, writer = await connect()
        writer.write(post("/slow", b"x"))
        writer.write_eof()
        status, headers, _body = await read_response(reader)
        assert (status, headers["connection"]) == (201, "close")
        assert await closed_by_server(reader)


async def test_close_waits_for_busy_connections_then_stops() -> None:
    server = HttpServer(echo)
    port = await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    idle_reader, _idle_writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post("/slow", b"x"))
    await asyncio.sleep(0.05)
    await server.close(grace_seconds=2.0)
    status, headers, _body = await read_response(reader)
    assert (status, headers["connection"]) == (201, "close")
    assert await closed_by_server(idle_reader)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
