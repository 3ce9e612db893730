"""An HTTP/1.1 server: one asyncio.Protocol per connection, requests parsed by httptools (llhttp).

Semantics a handler and a client can rely on:

- requests on a connection are handled one at a time and answered in order, so pipelining is
  safe; at most `MAX_QUEUED` complete requests wait before the server stops reading;
- a body above `max_body_bytes` is never read: as soon as the size is known (Content-Length,
  or a chunked body growing past it) the handler gets the request with `body=None`, and the
  connection closes after its answer;
- `Expect: 100-continue` (RFC 9110 10.1.1) is answered with 100 once the earlier responses on
  the connection are written, unless the declared body is already too large;
- request line, header fields and the whole head are bounded (414 / 431); a malformed request
  gets 400; all three close the connection;
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

import httptools

from local_broker.http.message import Headers, Request, Response, json_response, status_line
from local_broker.http.server_types import Later, ServerLimits

if TYPE_CHECKING:
    from local_broker.http.server import HttpServer


MAX_QUEUED: Final = 16  # complete pipelined requests waiting per connection
# httptools buffers a header field until it ends: bound what an unfinished head may hold.
_HEAD_GUARD_BYTES: Final = 512 * 1024
# Lowercased names of the header fields seen most, so most fields skip decode() and lower().
_HEADER_NAMES: dict[bytes, str] = {}
_MAX_HEADER_NAMES: Final = 512
# After refusing a request, keep reading (and dropping) what still comes this long before closing:
# closing with unread data makes the kernel send a reset, which can destroy the answer before the
# client reads it.
_LINGER_SECONDS: Final = 2.0
_KEEP_ALIVE: Final = b"Connection: keep-alive\r\n"
_CLOSE: Final = b"Connection: close\r\n"
_logger = logging.getLogger(__name__)


class _RefusedError(Exception):
    """Parsing stops here: answer `response`, then close the connection."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class _BodyTooLargeError(Exception):
    """The body exceeds the limit: hand the request over without it."""


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _handler_failed(error: BaseException) -> Response:
    _logger.error("HTTP handler failed", exc_info=error)
    return _error(500, "internal error; see the broker's log")


def _head_too_large(limits: ServerLimits, field_bytes: int, head_bytes: int) -> str:
    if field_bytes > limits.max_line_bytes:
        return f"a header field is longer than {limits.max_line_bytes} bytes"
    if head_bytes > limits.max_head_bytes:
        return f"the header fields are longer than {limits.max_head_bytes} bytes in all"
    return f"the request has more than {limits.max_header_count} header fields"


class ServerConnection(asyncio.Protocol):
    """One client connection: parse, queue, hand to the handler, answer in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._limits = server.limits
        self._parser = httptools.HttpRequestParser(self)
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
        self._head_done = False
        self._awaiting_continue = False
        # The request being parsed:
        self._url = b""
        self._pairs: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._unparsed_head_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._expect_continue = False

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
        if self._in_request and not self._head_done:
            self._unparsed_head_bytes += len(data)
            if self._unparsed_head_bytes > _HEAD_GUARD_BYTES:
                self._stop_reading(_error(431, "the request head is too large"))
                return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, _BodyTooLargeError):
                self._refuse_body()
            elif isinstance(cause, _RefusedError):
                self._stop_reading(cause.response)
            else:
                raise
        except httptools.HttpParserUpgrade:
            self._stop_reading(_error(400, "protocol upgrades are not supported"))
        except httptools.HttpParserError as error:
            self._stop_reading(_error(400, f"malformed HTTP request: {error}"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._in_request = True
        self._head_done = False
        self._unparsed_head_bytes = 0
        self._deadline = time.monotonic() + self._limits.request_seconds
        self._url = b""
        self._pairs = []
        self._head_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._expect_continue = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_line_bytes:
            raise _RefusedError(_error(414, "the request target is too long"))

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self._head_bytes += size
        limits = self._limits
        if (
            size > limits.max_line_bytes
            or self._head_bytes > limits.max_head_bytes
            or len(self._pairs) >= limits.max_header_count
        ):
            raise _RefusedError(_error(431, _head_too_large(limits, size, self._head_bytes)))
        lowered = _HEADER_NAMES.get(name)
        if lowered is None:
            lowered = name.decode("latin-1").lower()
            if len(_HEADER_NAMES) < _MAX_HEADER_NAMES:
                _HEADER_NAMES[name] = lowered
        text = value.decode("utf-8", "surrogateescape")
        if lowered == "expect" and text.lower() == "100-continue":
            self._expect_continue = True
        self._pairs.append((lowered, text))

    def on_headers_complete(self) -> None:
        self._head_done = True
        if self._parser.should_upgrade():
            # llhttp would skip the body of an upgrade request; refuse it instead of misreading.
            message = "protocol upgrades are not supported; send plain HTTP/1.1 (curl --http1.1)"
            raise _RefusedError(_error(400, message))
        declared = self._content_length()
        if declared is not None and declared > self._limits.max_body_bytes:
            raise _BodyTooLargeError
        if self._expect_continue and self._parser.get_http_version() == "1.1":
            self._awaiting_continue = True
            self._send_continue()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.max_body_bytes:
            raise _BodyTooLargeError
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._closed_by_answer:
            return  # pipelined after a request answered (at once) with `Connection: close`
        self._in_request = False
        self._awaiting_continue = False
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = self._request(body)
        if not self._parser.should_keep_alive():
            connection_header = _CLOSE
        elif self._parser.get_http_version() == "1.0":
            connection_header = _KEEP_ALIVE
        else:
            connection_header = b""
        self._queue.append((request, connection_header))
        if len(self._queue) >= MAX_QUEUED:
            self._pause_reading()
        self._next()

    # Internals

    def _request(self, body: bytes | None) -> Request:
        method = self._parser.get_method().decode("ascii")
        target = self._url.decode("utf-8", "surrogateescape")
        return Request(method, target, Headers(self._pairs), body)

    def _content_length(self) -> int | None:
        for name, value in self._pairs:
            if name == "content-length":
                return int(value)  # llhttp has validated it
        return None

    def _refuse_body(self) -> None:
        """Hand over the request without its body; nothing more is read on this connection."""
        self._in_request = False
        self._queue.append((self._request(None), _CLOSE))
        self._closing = True
        self._linger = True
        self._pause_reading()
        self._next()

    def _stop_reading(self, response: Response) -> None:
        self._in_request = False
        self._queue.append(response)
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
            self._write(item, _CLOSE)
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
            response = _error(503, "the server is shutting down")
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
            response = _error(503, "the server is shutting down")
        except Exception as error:
            response = _handler_failed(error)
        self._answer(response)

    def _answer(self, response: Response) -> None:
        self._busy = False
        closing = self._closing and not self._queue
        self._write(response, _CLOSE if closing else self._connection_header)
        self._next()

    def _write(self, response: Response, connection_header: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        if not response.body and not response.headers and response.content_type is None:
            transport.write(self._server.clock.bodyless_head(response.status, connection_header))
        else:
            self._write_head_and_body(transport, response, connection_header)
        if connection_header is not _CLOSE:
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
            self._stop_reading(_error(408, "the request was not completely sent in time"))
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
