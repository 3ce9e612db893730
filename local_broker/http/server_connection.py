"""An HTTP/1.1 server: one asyncio.Protocol per connection, requests read by `server_parser`.

Semantics a handler and a client can rely on:

- requests on a connection are handled one at a time and answered in order, so pipelining is
  safe; at most `MAX_QUEUED` complete requests wait before the server stops reading;
- a body above `max_body_bytes` is never read: the handler gets the request with `body=None`,
  and the connection closes after its answer;
- `Expect: 100-continue` (RFC 9110 10.1.1) is answered with 100 once the earlier responses on
  the connection are written, unless the declared body is already too large;
- a request the parser refuses (too long: 414 / 431; malformed: 400) gets that answer, and the
  connection closes;
- a client that starts a request must finish sending it within `request_seconds` (else 408 and
  close), and an idle keep-alive connection closes after `idle_seconds`;
- a handler that raises gets a 500 with a JSON body; the error is logged;
- a handler may answer at once (a `Response`), later (an `asyncio.Future` of one, or a `Later`),
  or be a coroutine function (run as a task): all but the last spare a task per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final, cast

from local_broker.http.message import Request, Response, status_line
from local_broker.http.server_parser import (
    CLOSE,
    BodyTooLargeError,
    RequestParser,
    RequestRefusedError,
    error_response,
)
from local_broker.http.server_types import Later

if TYPE_CHECKING:
    from local_broker.http.server import HttpServer


MAX_QUEUED: Final = 16  # complete pipelined requests waiting per connection
# After refusing a request, keep reading (and dropping) what still comes this long before closing:
# closing with unread data makes the kernel send a reset, which can destroy the answer before the
# client reads it.
_LINGER_SECONDS: Final = 2.0
_logger = logging.getLogger(__name__)


def _handler_failed(error: BaseException) -> Response:
    _logger.error("HTTP handler failed", exc_info=error)
    return error_response(500, "internal error; see the broker's log")


class ServerConnection(asyncio.Protocol):
    """One client connection: parse, queue, hand to the handler, answer in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._limits = server.limits
        self._parser = RequestParser(self, server.limits)
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        # Complete requests, each with the Connection header its answer needs (b"" for none).
        self._queue: deque[tuple[Request, bytes] | Response] = deque()
        self._busy = False  # a handler is running
        self._connection_header = b""  # of the request being handled
        self._linger = False
        self._method = ""  # of the request being handled
        self._read_paused = False
        self._write_paused = False
        self._closing = False  # no more requests are read; close once the queue is answered
        self._closed_by_answer = False  # an answer with `Connection: close` was written
        self._deadline = 0.0
        self._in_request = False
        self._awaiting_continue = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, so no isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        self._server.connections.add(self)
        self._deadline = time.monotonic() + self._limits.idle_seconds

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.forget(self)
        self._closing = True
        self._queue.clear()
        self._transport = None
        self._parser.close()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._next()
        self._maybe_resume_reading()

    def eof_received(self) -> bool | None:
        # The client sent all it will send; answer what is queued, then close.
        self.close_when_idle()
        return True  # keep the transport open for writing the answers

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed(data)
        except BodyTooLargeError as too_large:
            self._stop_reading((too_large.request, CLOSE))
        except RequestRefusedError as refused:
            self._stop_reading(refused.response)

    # What the parser tells (ParsedRequests)

    def request_started(self) -> None:
        self._in_request = True
        self._deadline = time.monotonic() + self._limits.request_seconds

    def continue_expected(self) -> None:
        self._awaiting_continue = True
        self._send_continue()

    def request_received(self, request: Request, connection_header: bytes) -> None:
        if self._closed_by_answer:
            return  # pipelined after a request answered (at once) with `Connection: close`
        self._in_request = False
        self._awaiting_continue = False
        self._queue.append((request, connection_header))
        if len(self._queue) >= MAX_QUEUED:
            self._pause_reading()
        self._next()

    # Internals

    def _stop_reading(self, last: tuple[Request, bytes] | Response) -> None:
        """Queue `last` (a request without its body, or a refusal); read nothing more."""
        self._in_request = False
        self._queue.append(last)
        self._closing = True
        self._linger = True
        self._pause_reading()
        self._next()

    def _send_continue(self) -> None:
        if self._busy or self._queue or self._transport is None:
            return  # sent once the responses before it are written (see _next)
        self._awaiting_continue = False
        self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _next(self) -> None:
        """Start on the next queued request if nothing is in progress."""
        if self._busy or self._write_paused or self._transport is None:
            return
        if not self._queue:
            if self._awaiting_continue:
                self._send_continue()
            if self._closing:
                self._transport.close()
            return
        item = self._queue.popleft()
        self._maybe_resume_reading()
        if isinstance(item, Response):
            self._method = ""
            self._write(item, CLOSE)
            return
        request, self._connection_header = item
        self._method = request.method
        self._busy = True
        try:
            result = self._server.handler(request)
        except Exception as error:
            self._answer(_handler_failed(error))
            return
        if isinstance(result, Response):
            self._answer(result)
        elif isinstance(result, Later):
            result.future.add_done_callback(partial(self._answer_later, result.answer))
        elif isinstance(result, asyncio.Future):
            result.add_done_callback(self._handled)
        else:
            self._loop.create_task(result).add_done_callback(self._handled)

    def _handled(self, answer: asyncio.Future[Response]) -> None:
        if answer.cancelled():
            response = error_response(503, "the server is shutting down")
        elif (error := answer.exception()) is not None:
            response = _handler_failed(error)
        else:
            response = answer.result()
        self._answer(response)

    def _answer_later(
        self, answer: Callable[[asyncio.Future[Any]], Response], done: asyncio.Future[Any]
    ) -> None:
        try:
            response = answer(done)
        except asyncio.CancelledError:
            response = error_response(503, "the server is shutting down")
        except Exception as error:
            response = _handler_failed(error)
        self._answer(response)

    def _answer(self, response: Response) -> None:
        self._busy = False
        closing = self._closing and not self._queue
        self._write(response, CLOSE if closing else self._connection_header)
        self._next()

    def _write(self, response: Response, connection_header: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        if not response.body and not response.headers and response.content_type is None:
            transport.write(self._server.clock.bodyless_head(response.status, connection_header))
        else:
            self._write_head_and_body(transport, response, connection_header)
        if connection_header is not CLOSE:
            if not self._in_request:
                self._deadline = time.monotonic() + self._limits.idle_seconds
            return
        self._closing = True
        self._closed_by_answer = True
        self._queue.clear()
        if self._linger and transport.can_write_eof():
            transport.write_eof()
            transport.resume_reading()  # data_received drops what still comes
            self._loop.call_later(_LINGER_SECONDS, self.abort)
        else:
            transport.close()

    def _write_head_and_body(
        self, transport: asyncio.Transport, response: Response, connection_header: bytes
    ) -> None:
        head = [status_line(response.status), self._server.clock.date_line()]
        if response.content_type is not None:
            head.append(f"Content-Type: {response.content_type}\r\n".encode("latin-1"))
        for name, value in response.headers:
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"Content-Length: %d\r\n" % len(response.body))
        head.append(connection_header)
        head.append(b"\r\n")
        if self._method != "HEAD":
            head.append(response.body)
        transport.write(b"".join(head))

    def _pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if (
            self._read_paused
            and not self._closing
            and not self._write_paused
            and len(self._queue) < MAX_QUEUED // 2
            and self._transport is not None
        ):
            self._read_paused = False
            self._transport.resume_reading()

    # Called by the server

    def check_deadline(self, now: float) -> None:
        if self._busy or self._queue or now < self._deadline or self._transport is None:
            return
        if self._in_request:
            self._stop_reading(error_response(408, "the request was not completely sent in time"))
        else:
            self._transport.close()

    def close_when_idle(self) -> None:
        """Read nothing more; close once every queued request is answered."""
        self._closing = True
        if not self._busy and not self._queue and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
