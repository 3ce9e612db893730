"""Handlers that answer at once or through a future, not only coroutines (no task per request)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from local_broker.http.message import Request, Response
from local_broker.http.server import Handler, HandlerResult, HttpServer, Later
from tests.local_broker.http.test_server import closed_by_server, post, read_response

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Connection]:
    server = HttpServer(handler)
    port = await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        await server.close(grace_seconds=0.5)


def answering(path_to_status: dict[str, int]) -> Handler:
    """`/now/<x>` answers at once, `/later/<x>` through a future settled on the next turn,
    `/task/<x>` as a coroutine; `/raise` raises before answering."""

    async def as_coroutine(status: int) -> Response:
        await asyncio.sleep(0)
        return Response(status, b"task")

    def handle(request: Request) -> HandlerResult:
        kind, _, name = request.path.strip("/").partition("/")
        if kind == "raise":
            raise RuntimeError("boom")
        status = path_to_status.get(name, 200)
        if kind == "now":
            return Response(status, b"now")
        if kind == "later":
            answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(answer.set_result, Response(status, b"later"))
            return answer
        return as_coroutine(status)

    return handle


async def test_the_three_kinds_of_answer_keep_pipelined_requests_in_order() -> None:
    async with serving(answering({"b": 202, "c": 404})) as (reader, writer):
        writer.write(post("/later/a", b"") + post("/now/b", b"") + post("/task/c", b""))
        answers = [await read_response(reader) for _ in range(3)]
    assert [(status, body) for status, _headers, body in answers] == [
        (200, b"later"),
        (202, b"now"),
        (404, b"task"),
    ]


async def test_a_handler_that_raises_at_once_gets_a_500() -> None:
    async with serving(answering({})) as (reader, writer):
        writer.write(post("/raise", b"") + post("/now/x", b""))
        first, second = await read_response(reader), await read_response(reader)
    assert first[0] == 500
    assert second[0] == 200


async def test_a_cancelled_future_answers_503() -> None:
    def handle(_request: Request) -> HandlerResult:
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        answer.cancel()
        return answer

    async with serving(handle) as (reader, writer):
        writer.write(post("/x", b""))
        status, _headers, _body = await read_response(reader)
    assert status == 503


async def test_requests_pipelined_after_an_immediate_close_are_not_answered() -> None:
    async with serving(answering({})) as (reader, writer):
        writer.write(post("/now/a", b"", "Connection: close") + post("/now/b", b""))
        status, headers, _body = await read_response(reader)
        assert await closed_by_server(reader)
    assert status == 200
    assert headers["connection"] == "close"


async def test_a_later_answer_is_made_from_the_settled_future() -> None:
    def handle(request: Request) -> HandlerResult:
        work: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if request.path == "/cancel":
            work.cancel()
        elif request.path == "/fail":
            work.set_exception(RuntimeError("the work failed"))
        else:
            asyncio.get_running_loop().call_soon(work.set_result, 7)
        return Later(work, lambda done: Response(200, str(done.result()).encode()))

    async with serving(handle) as (reader, writer):
        writer.write(post("/ok", b"") + post("/fail", b"") + post("/cancel", b""))
        answers = [await read_response(reader) for _ in range(3)]
    assert [(status, body) for status, _headers, body in answers[:1]] == [(200, b"7")]
    assert [status for status, _headers, _body in answers] == [200, 500, 503]
