"""One client connection: write a request, parse its response with httptools (llhttp).

The response's end is found as RFC 9112 section 6.3 says: Content-Length, chunked, or (neither)
the server closing the connection. 1xx interim responses are skipped. A header folded over
lines (obs-fold) is read as one value, as RFC 9112 section 5.2 requires of a user agent; every
other header rule of llhttp's strict mode stands. Anything the connection
cannot vouch for (an error, bytes nobody asked for, a response that forbids keep-alive) makes it
not `reusable`, so the pool never hands out a connection that is out of step.

A body is read to its end but kept only up to a bound: `max_body_bytes` for a 2xx answer (a
reply event, which can be no larger than the broker takes at its ingress), `ERROR_BODY_BYTES` for
any other (what a dead letter and the log need of it). The rest is dropped as it arrives and
counted in `ClientResponse.body_dropped`, so a subscriber answering 100 MB costs the broker no
more memory than that bound, and its status still counts.
"""

from __future__ import annotations

import asyncio
import re
from typing import Final, cast

import httptools

from local_broker.http.message import Headers

MAX_RESPONSE_BODY_BYTES: Final = 64 * 1024 * 1024
ERROR_BODY_BYTES: Final = 16 * 1024
MAX_RESPONSE_HEAD_BYTES: Final = 64 * 1024
# Lowercased names of the response header fields seen most (subscribers send few distinct ones).
_HEADER_NAMES: dict[bytes, str] = {}
_MAX_HEADER_NAMES: Final = 256
# RFC 9110 section 5.5: a field value is visible characters, obs-text, SP and HTAB.
_NOT_FIELD_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def kept_body_bytes(status: int, max_body_bytes: int) -> int:
    """How much of an answer's body is kept (the module's docstring says why)."""
    return max_body_bytes if 200 <= status < 300 else ERROR_BODY_BYTES


class HttpClientError(Exception):
    """No usable response; str() says why, for the delivery log and the dead-letter reason."""


class ConnectError(HttpClientError):
    pass


class ConnectionClosedError(HttpClientError):
    pass


class BadResponseError(HttpClientError):
    pass


class ClientResponse:
    # A plain class, not a dataclass: compiled, a dataclass keeps its generated (interpreted)
    # __init__, and one of these is made per event (docs/benchmarks.md, thirteenth session).
    __slots__ = ("body", "body_dropped", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes, body_dropped: int = 0) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.body_dropped = body_dropped  # bytes of the body beyond what was kept


class StaleConnectionError(ConnectionClosedError):
    """The server closed the connection before any byte of an answer: it may not have read it."""


class ClientConnection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, max_body_bytes: int = MAX_RESPONSE_BODY_BYTES
    ) -> None:
        self._loop = loop
        self._max_body_bytes = max_body_bytes
        self._keep_bytes = max_body_bytes  # of the answer being read, once its status is known
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        # RFC 9112 section 5.2: a user agent must replace an obs-fold in a response with SP and
        # read the value on; llhttp's strict mode fails the whole answer instead. Its lenient
        # header mode joins the lines (dropping the CRLF, keeping the SP or HTAB after it) but
        # also lets control characters and whitespace before the colon through, which
        # on_header refuses as the strict mode does.
        self._parser.set_dangerous_leniencies(lenient_headers=True)
        self._waiter: asyncio.Future[ClientResponse] | None = None
        self.reusable = True
        self.idle_since = 0.0
        self.deadline = 0.0  # loop time by which the answer must be complete
        self._received = 0  # bytes of the current answer
        self._pairs: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._head_done = False
        self._until_eof = False
        self._framed = False  # Content-Length or Transfer-Encoding seen
        self._body: list[bytes] = []
        self._body_bytes = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop it was made on (asking asyncio for the running one costs a getpid())."""
        return self._loop

    @property
    def closed(self) -> bool:
        return self._transport is None

    def send(self, data: bytes, deadline: float) -> asyncio.Future[ClientResponse]:
        """Write a request; the future settles with its response (or the failure)."""
        transport = self._transport
        if transport is None:
            raise StaleConnectionError("the connection was closed")
        waiter: asyncio.Future[ClientResponse] = self._loop.create_future()
        self._waiter = waiter
        self.deadline = deadline
        self._received = 0
        transport.write(data)
        return waiter

    def _fail(self, error: BaseException) -> None:
        self.reusable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()

    def time_out(self) -> None:
        self._fail(TimeoutError())

    def abort(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, so no isinstance check.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.reusable = False
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head_done and self._until_eof:
            self._complete()  # the body was delimited by the close (RFC 9112 6.3, rule 8)
            return
        self._waiter = None
        if self._received == 0:
            waiter.set_exception(StaleConnectionError("the server closed the connection"))
        else:
            reason = f": {exc}" if exc is not None else ""
            waiter.set_exception(
                ConnectionClosedError(f"the server closed the connection mid-response{reason}")
            )

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Nothing was asked: an unsolicited answer means the connection is out of step.
            self.abort()
            return
        self._received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            self._fail(cause if isinstance(cause, HttpClientError) else BadResponseError(error))
            return
        except httptools.HttpParserUpgrade:
            self._fail(BadResponseError("the server switched protocols"))
            return
        except httptools.HttpParserError as invalid:
            self._fail(BadResponseError(f"the response is not valid HTTP/1.1: {invalid}"))
            return
        # After parsing, not before: one read may hold a whole head and much of the body (or
        # the whole answer, which leaves no waiter).
        if (
            self._waiter is not None
            and not self._head_done
            and self._received > MAX_RESPONSE_HEAD_BYTES * 2
        ):
            self._fail(BadResponseError("the response head is too large"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._waiter is None:
            self.reusable = False
            raise BadResponseError("the server sent an answer nobody asked for")
        self._pairs = []
        self._head_bytes = 0
        self._head_done = False
        self._until_eof = False
        self._framed = False
        self._body = []
        self._body_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_RESPONSE_HEAD_BYTES:
            raise BadResponseError(f"the response head is over {MAX_RESPONSE_HEAD_BYTES} bytes")
        if name[-1:] in (b" ", b"\t"):  # RFC 9112 section 5.1: no whitespace before the colon
            raise BadResponseError(f"the response header {name!r} ends in whitespace")
        if _NOT_FIELD_VALUE.search(value) is not None:
            raise BadResponseError(f"the response header {name!r} holds a control character")
        lowered = _HEADER_NAMES.get(name)
        if lowered is None:
            lowered = name.decode("latin-1").lower()
            if len(_HEADER_NAMES) < _MAX_HEADER_NAMES:
                _HEADER_NAMES[name] = lowered
        if lowered == "content-length" or (
            # RFC 9112 section 6.3: a Transfer-Encoding whose final coding is not chunked leaves
            # a response's body delimited by the close, as if there were no framing at all.
            lowered == "transfer-encoding"
            and value.rpartition(b",")[2].strip().lower() == b"chunked"
        ):
            self._framed = True
        # surrogateescape, as aiohttp: a value that is not UTF-8 reaches the binding, which fails it
        self._pairs.append((lowered, value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self._head_done = True
        status = self._parser.get_status_code()
        self._until_eof = not self._framed and status >= 200 and status not in (204, 304)
        self._keep_bytes = kept_body_bytes(status, self._max_body_bytes)

    def on_body(self, body: bytes) -> None:
        kept = self._body_bytes
        self._body_bytes += len(body)
        if self._body_bytes <= self._keep_bytes:
            self._body.append(body)
        elif kept < self._keep_bytes:
            self._body.append(body[: self._keep_bytes - kept])

    def on_message_complete(self) -> None:
        if self._waiter is None or self._waiter.done():
            self.abort()  # a second answer to one request: the connection is out of step
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            return  # an interim answer (100 Continue): the real one follows
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._complete()

    def _complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        status = self._parser.get_status_code()
        dropped = self._body_bytes - len(body)
        waiter.set_result(ClientResponse(status, Headers(self._pairs), body, dropped))
        self._head_done = False  # what follows belongs to no request
