"""The delivery HTTP client against real aiohttp servers and raw servers that misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from local_broker.deliver import attempt_once
from local_broker.http.client import (
    TIMEOUT_TICK_SECONDS,
    BadResponseError,
    ClientResponse,
    ConnectError,
    ConnectionClosedError,
    HttpClient,
    HttpClientError,
    StaleConnectionError,
)
from local_broker.http.client_request import WireHeaders
from shoal.platform.ports import free_port
from tests.local_broker.http.conftest import raw_server, read_request

EVENT_HEADERS = {"ce-id": "1", "ce-source": "/s", "ce-type": "t", "ce-specversion": "1.0"}


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    yield client
    await client.close()


class Recorder:
    """An aiohttp server that records requests and the client port they came from."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []

    async def handle(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        port = int(peer[1]) if peer else 0
        self.requests.append((dict(request.headers), await request.read(), port))
        return web.Response(status=202, body=b"ok", headers={"ce-id": "r1", "Retry-After": "3"})


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield recorder, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_posts_exactly_the_given_headers_and_reads_the_response(
    client: HttpClient, recorder: tuple[Recorder, str]
) -> None:
    server, url = recorder
    response = await client.request("POST", f"{url}/path?q=1", EVENT_HEADERS, b"data", 5.0)
    assert response.status == 202
    assert response.body == b"ok"
    assert response.headers["Retry-After"] == "3"  # lookups ignore case
    assert response.headers.get("CE-ID") == "r1"
    (headers, body, _port), *_ = server.requests
    assert body == b"data"
    assert {k.lower() for k in headers} == {*EVENT_HEADERS, "host", "content-length"}


async def test_keeps_one_connection_alive_across_requests(
    client: HttpClient, recorder: tuple[Recorder, str]
) -> None:
    server, url = recorder
    for _ in range(5):
        assert (await client.request("POST", url, EVENT_HEADERS, b"", 5.0)).status == 202
    assert len({port for _h, _b, port in server.requests}) == 1


async def test_concurrent_requests_use_separate_connections(
    client: HttpClient, recorder: tuple[Recorder, str]
) -> None:
    server, url = recorder
    responses = await asyncio.gather(
        *(client.request("POST", url, EVENT_HEADERS, b"x", 5.0) for _ in range(10))
    )
    assert [r.status for r in responses] == [202] * 10
    assert len(server.requests) == 10


async def test_wire_headers_are_formatted_once_and_reused(
    client: HttpClient, recorder: tuple[Recorder, str]
) -> None:
    server, url = recorder
    headers = WireHeaders(EVENT_HEADERS)
    for path in ("/a", "/b"):
        await client.request("POST", url + path, headers, b"{}", 5.0)
    assert headers.wire() == b"".join(f"{k}: {v}\r\n".encode() for k, v in EVENT_HEADERS.items())
    assert [h["ce-id"] for h, _b, _p in server.requests] == ["1", "1"]


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"], ids=["crlf", "lf", "cr"])
async def test_a_line_break_in_a_header_value_is_refused(client: HttpClient, value: str) -> None:
    with pytest.raises(HttpClientError, match="line break"):
        await client.request("POST", "http://127.0.0.1:1/", {"ce-id": value}, b"", 1.0)


async def test_chunked_response(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        await writer.drain()
        await reader.read()  # keep the connection until the client is done

    async with raw_server(handle) as url:
        response = await client.request("POST", url, EVENT_HEADERS, b"", 5.0)
    assert (response.status, response.body) == (200, b"hello world")


async def test_body_delimited_by_the_server_closing(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        writer.close()

    async with raw_server(handle) as url:
        response = await client.request("POST", url, EVENT_HEADERS, b"", 5.0)
    assert (response.status, response.body) == (200, b"until the end")


async def test_interim_1xx_responses_are_skipped(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.read()

    async with raw_server(handle) as url:
        response = await client.request("POST", url, EVENT_HEADERS, b"", 5.0)
    assert (response.status, response.body) == (202, b"ok")
    assert "link" not in response.headers


async def test_connection_close_is_honoured_and_the_next_request_reconnects(
    client: HttpClient,
) -> None:
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async with raw_server(handle) as url:
        for _ in range(3):
            assert (await client.request("POST", url, EVENT_HEADERS, b"", 5.0)).status == 200
    assert connections == 3


async def test_a_stale_pooled_connection_is_replaced_transparently(client: HttpClient) -> None:
    """The server closes each connection after one answer without saying so (as an idle
    timeout would): the next request on the pooled connection goes out again on a new one."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    async with raw_server(handle) as url:
        for _ in range(3):
            await asyncio.sleep(0.2)  # the server has closed the pooled connection by now
            assert (await client.request("POST", url, EVENT_HEADERS, b"", 5.0)).status == 200
    assert connections == 3


async def test_refused_connection(client: HttpClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(ConnectError, match="cannot connect"):
        await client.request("POST", url, EVENT_HEADERS, b"", 5.0)


async def test_server_that_closes_without_answering(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async with raw_server(handle) as url:
        with pytest.raises(ConnectionClosedError, match="without answering"):
            await client.request("POST", url, EVENT_HEADERS, b"", 5.0)


async def test_server_that_resets_the_connection(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-")
        await writer.drain()
        writer.transport.abort()  # RST

    async with raw_server(handle) as url:
        with pytest.raises(ConnectionClosedError, match="mid-response"):
            await client.request("POST", url, EVENT_HEADERS, b"", 5.0)


async def test_half_a_body_then_close(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await writer.drain()
        writer.close()

    async with raw_server(handle) as url:
        with pytest.raises(ConnectionClosedError, match="mid-response"):
            await client.request("POST", url, EVENT_HEADERS, b"", 5.0)


async def test_a_hanging_server_times_out(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")  # and nothing more
        await reader.read()

    loop = asyncio.get_running_loop()
    async with raw_server(handle) as url:
        started = loop.time()
        with pytest.raises(TimeoutError):
            await client.request("POST", url, EVENT_HEADERS, b"", 0.2)
        elapsed = loop.time() - started
    # Not before the timeout, give or take a millisecond: the loop's clock is a float and
    # uvloop's timers have millisecond resolution (it measured 0.19999999999981 once).
    assert 0.2 - 0.001 <= elapsed < 0.2 + TIMEOUT_TICK_SECONDS + 0.5


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"HTTP/1.1 abc Broken\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    ],
    ids=["not-http", "bad-status", "bad-length", "upgrade"],
)
async def test_garbage_answers(client: HttpClient, answer: bytes) -> None:
    with pytest.raises(BadResponseError):
        await answer_with(answer, client)


async def answer_with(answer: bytes, client: HttpClient) -> ClientResponse:
    """The response to one request of a server that reads it and writes `answer` raw."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()
        await reader.read()

    async with raw_server(handle) as url:
        return await client.request("POST", url, EVENT_HEADERS, b"", 5.0)


@pytest.mark.parametrize(
    ("folded", "value"),
    [
        (b"ce-subject: part one\r\n part two", "part one part two"),
        (b"ce-subject: a\r\n\tb\r\n  c", "a\tb  c"),
    ],
    ids=["space", "tab-and-two-folds"],
)
async def test_a_header_folded_over_lines_is_read_as_one_value(
    client: HttpClient, folded: bytes, value: str
) -> None:
    # RFC 9112 section 5.2: a user agent replaces each obs-fold with SP and reads on. Strict
    # llhttp failed such an answer, so a subscriber that folds got retried and dead-lettered.
    answer = b"HTTP/1.1 200 OK\r\n" + folded + b"\r\nContent-Length: 2\r\n\r\nok"

    response = await answer_with(answer, client)

    assert (response.status, response.headers["ce-subject"], response.body) == (200, value, b"ok")


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (b"X-Bad: a\x00b", "control character"),
        (b"X-Bad: a\x01b", "control character"),
        (b"X-Bad: a\x7fb", "control character"),
        (b"Content-Length : 2", "ends in whitespace"),
        (b"X-Bad: a\rb", "not valid HTTP"),
        (b"X-Bad: a\nb: c", "not valid HTTP"),
    ],
    ids=["nul", "ctl", "del", "space-before-colon", "bare-cr", "bare-lf"],
)
async def test_what_strict_parsing_refuses_besides_folding_is_still_refused(
    client: HttpClient, header: bytes, says: str
) -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + header + b"\r\nContent-Length: 2\r\n\r\nok"

    with pytest.raises(BadResponseError, match=says):
        await answer_with(answer, client)


async def test_huge_response_headers(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for index in range(2000):
            writer.write(b"X-Filler-%d: %s\r\n" % (index, b"y" * 100))
        writer.write(b"\r\n")
        await writer.drain()
        await reader.read()

    async with raw_server(handle) as url:
        with pytest.raises(BadResponseError, match=r"too large|over"):
            await client.request("POST", url, EVENT_HEADERS, b"", 5.0)


async def test_an_endless_header_line(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        for _ in range(300):
            writer.write(b"z" * 1024)
            await writer.drain()
        await reader.read()

    async with raw_server(handle) as url:
        with pytest.raises(BadResponseError, match="too large"):
            await client.request("POST", url, EVENT_HEADERS, b"", 5.0)


async def test_unsolicited_bytes_after_an_answer_retire_the_connection(
    client: HttpClient,
) -> None:
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 500 Oops\r\n\r\n")
            await writer.drain()

    async with raw_server(handle) as url:
        for _ in range(2):
            assert (await client.request("POST", url, EVENT_HEADERS, b"", 5.0)).status == 200
    assert connections == 2


async def test_cancelling_a_request_discards_its_connection(client: HttpClient) -> None:
    connections = 0
    answer = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            await answer.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    async with raw_server(handle) as url:
        pending = asyncio.create_task(client.request("POST", url, EVENT_HEADERS, b"", 5.0))
        await asyncio.sleep(0.1)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        answer.set()
        assert (await client.request("POST", url, EVENT_HEADERS, b"", 5.0)).status == 200
    assert connections == 2  # the late answer to the cancelled request was never read as this one


async def test_https_goes_through_aiohttp(client: HttpClient) -> None:
    with pytest.raises(HttpClientError, match="ClientConnectorError"):
        await client.request("POST", f"https://127.0.0.1:{free_port()}/", {}, b"", 2.0)


@pytest.mark.parametrize("url", ["http:///nohost", "http://127.0.0.1:99999/", "http://a/b c"])
async def test_invalid_urls(client: HttpClient, url: str) -> None:
    with pytest.raises(HttpClientError, match="invalid URL"):
        await client.request("POST", url, {}, b"", 1.0)


async def test_attempt_once_turns_every_transport_failure_into_an_attempt(
    client: HttpClient,
) -> None:
    async def hang(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await reader.read()

    refused = await attempt_once(client, f"http://127.0.0.1:{free_port()}/", {}, b"", 2.0)
    async with raw_server(hang) as url:
        timed_out = await attempt_once(client, url, {}, b"", 0.1)
    invalid = await attempt_once(client, "http://a/b c", {}, b"", 1.0)
    for attempt in (refused, timed_out, invalid):
        assert (attempt.status, attempt.body, dict(attempt.headers)) == (None, b"", {})
        assert attempt.error
        assert not attempt.succeeded
    assert timed_out.error == "no answer within 0.1 s"


class Settled:
    """What `send_on_idle` hands to its callback."""

    def __init__(self) -> None:
        self.done: asyncio.Future[asyncio.Future[ClientResponse]] = (
            asyncio.get_running_loop().create_future()
        )

    def __call__(self, answer: asyncio.Future[ClientResponse]) -> None:
        self.done.set_result(answer)


async def test_send_on_idle_needs_a_pooled_connection(
    client: HttpClient, recorder: tuple[Recorder, str]
) -> None:
    _recorder, url = recorder
    assert (
        client.send_on_idle("POST", url, EVENT_HEADERS, b"", timeout=5.0, on_done=Settled()) is None
    )
    await client.request("POST", url, EVENT_HEADERS, b"", 5.0)  # opens one, then pools it
    settled = Settled()
    assert client.send_on_idle("POST", url, EVENT_HEADERS, b"x", timeout=5.0, on_done=settled)
    answer = await asyncio.wait_for(settled.done, 5.0)
    assert answer.result().status == 202
    (port,) = {port for _headers, _body, port in _recorder.requests}  # both on one connection
    assert port
    # The connection went back to the pool: the next one needs no new connection either.
    assert client.send_on_idle("POST", url, EVENT_HEADERS, b"", timeout=5.0, on_done=Settled())


async def test_send_on_idle_reports_a_stale_connection_and_empties_the_pool(
    client: HttpClient,
) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()  # without `Connection: close`, as an idle timeout would

    async with raw_server(handle) as url:
        await client.request("POST", url, EVENT_HEADERS, b"", 5.0)
        await asyncio.sleep(0.2)  # the server has closed the pooled connection by now
        settled = Settled()
        sent = client.send_on_idle("POST", url, EVENT_HEADERS, b"", timeout=5.0, on_done=settled)
        if sent is not None:  # the pool may already have noticed the close
            answer = await asyncio.wait_for(settled.done, 5.0)
            assert isinstance(answer.exception(), StaleConnectionError)
        assert (
            client.send_on_idle("POST", url, EVENT_HEADERS, b"", timeout=5.0, on_done=Settled())
            is None
        )


async def test_send_on_idle_times_out(client: HttpClient) -> None:
    answered = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await read_request(reader)
        answered += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await reader.read()  # the second request is never answered

    async with raw_server(handle) as url:
        await client.request("POST", url, EVENT_HEADERS, b"", 5.0)
        settled = Settled()
        assert client.send_on_idle("POST", url, EVENT_HEADERS, b"", timeout=0.1, on_done=settled)
        answer = await asyncio.wait_for(settled.done, 5.0)
    assert isinstance(answer.exception(), TimeoutError)
    assert answered == 1


async def test_send_on_idle_refuses_a_line_break_and_keeps_the_connection(
    client: HttpClient, recorder: tuple[Recorder, str]
) -> None:
    _recorder, url = recorder
    await client.request("POST", url, EVENT_HEADERS, b"", 5.0)
    bad = {**EVENT_HEADERS, "ce-x": "a\r\nInjected: 1"}
    with pytest.raises(HttpClientError, match="line break"):
        client.send_on_idle("POST", url, bad, b"", timeout=5.0, on_done=Settled())
    settled = Settled()
    assert client.send_on_idle("POST", url, EVENT_HEADERS, b"", timeout=5.0, on_done=settled)
    assert (await asyncio.wait_for(settled.done, 5.0)).result().status == 202
