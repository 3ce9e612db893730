"""An HTTP/1.1 client for deliveries: keep-alive connections pooled per (host, port), responses
parsed by httptools (llhttp).

What a caller can rely on:

- `request` returns a `ClientResponse` for any complete response (Content-Length, chunked, or
  a body ended by the server closing the connection; 1xx interim responses are skipped), or
  raises `TimeoutError` when no complete response arrived within `timeout` seconds (connecting
  included), or an `HttpClientError` saying what went wrong: refused, reset, closed mid-response,
  a response that is not HTTP, or one larger than the limits;
- a connection goes back to the pool only after a complete response that allows keep-alive;
  anything else (error, timeout, cancellation) closes it, so a later request never reads a
  stale answer;
- a request on a reused connection that the server had already closed (no byte of an answer
  came back) is sent once more on a new connection, as browsers and aiohttp do;
- `https://` URLs go through aiohttp (the broker's subscribers are plain HTTP locally).

Timeouts are checked every `TIMEOUT_TICK_SECONDS` by one timer for all requests in flight, so an
answer that is late times out up to one tick after its deadline: a timer handle per request
costs more than the rest of the request's bookkeeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import urlsplit

import aiohttp
import httptools

from local_broker.http.message import Headers

MAX_RESPONSE_BODY_BYTES: Final = 64 * 1024 * 1024
MAX_RESPONSE_HEAD_BYTES: Final = 64 * 1024
_MAX_TARGETS: Final = 1024  # parsed URLs kept; subscribers come from manifests, so few
_FRAMING: Final = frozenset({"content-length", "transfer-encoding"})
TIMEOUT_TICK_SECONDS: Final = 0.025


class HttpClientError(Exception):
    """No usable response; str() says why, for the delivery log and the dead-letter reason."""


class ConnectError(HttpClientError):
    pass


class ConnectionClosedError(HttpClientError):
    pass


class BadResponseError(HttpClientError):
    pass


@dataclass(slots=True)  # not frozen: one per request, and frozen __init__ is slower
class ClientResponse:
    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL means for a request: where to connect and how the request line starts."""

    key: tuple[str, int]
    path: str
    host_header: str


class _StaleConnectionError(ConnectionClosedError):
    """The server closed the connection before any byte of an answer: it may not have read it."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
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
    def closed(self) -> bool:
        return self._transport is None

    def send(self, data: bytes, deadline: float) -> asyncio.Future[ClientResponse]:
        """Write a request; the future settles with its response (or the failure)."""
        transport = self._transport
        if transport is None:
            raise _StaleConnectionError("the connection was closed")
        waiter: asyncio.Future[ClientResponse] = self._loop.create_future()
        self._waiter = waiter
        self.deadline = deadline
        self._received = 0
        transport.write(data)
        return waiter

    def on_message_begin(self) -> None:
        if self._waiter is None:
            self.reusable = False
            raise BadResponseError("the server sent an answer nobody asked for")
        self._start_response()

    def _start_response(self) -> None:
        self._pairs = []
        self._head_bytes = 0
        self._head_done = False
        self._until_eof = False
        self._framed = False
        self._body = []
        self._body_bytes = 0

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
            waiter.set_exception(_StaleConnectionError("the server closed the connection"))
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
        if not self._head_done and self._received > MAX_RESPONSE_HEAD_BYTES * 2:
            self._fail(BadResponseError("the response head is too large"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            self._fail(cause if isinstance(cause, HttpClientError) else BadResponseError(error))
        except httptools.HttpParserUpgrade:
            self._fail(BadResponseError("the server switched protocols"))
        except httptools.HttpParserError as error:
            self._fail(BadResponseError(f"the response is not valid HTTP/1.1: {error}"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_RESPONSE_HEAD_BYTES:
            raise BadResponseError(f"the response head is over {MAX_RESPONSE_HEAD_BYTES} bytes")
        lowered = name.decode("latin-1").lower()
        if lowered in _FRAMING:
            self._framed = True
        # surrogateescape, as aiohttp: a value that is not UTF-8 reaches the binding, which fails it
        self._pairs.append((lowered, value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self._head_done = True
        status = self._parser.get_status_code()
        self._until_eof = not self._framed and status >= 200 and status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > MAX_RESPONSE_BODY_BYTES:
            raise BadResponseError(f"the response body is over {MAX_RESPONSE_BODY_BYTES} bytes")
        self._body.append(body)

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
        status = self._parser.get_status_code()
        waiter.set_result(ClientResponse(status, Headers(self._pairs), body))
        self._head_done = False  # what follows belongs to no request


class HttpClient:
    """Requests over pooled connections. Use on one event loop; `await close()` at the end."""

    def __init__(self, *, max_idle_per_host: int = 4096, idle_seconds: float = 30.0) -> None:
        self._max_idle = max_idle_per_host
        self._idle_seconds = idle_seconds
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._targets: dict[str, _Target | None] = {}
        self._janitor: asyncio.TimerHandle | None = None
        self._in_flight: set[_Connection] = set()
        self._timeouts: asyncio.TimerHandle | None = None
        self._fallback: aiohttp.ClientSession | None = None
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
    ) -> ClientResponse:
        target = self._targets.get(url)
        if target is None:
            if url not in self._targets:
                target = self._parse(url)
            if target is None:
                return await self._request_with_aiohttp(method, url, headers, body, timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        data = _request_bytes(method, target, headers, body)
        may_resend = True
        while True:
            connection = self._take_idle(target.key)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(loop, target, deadline)
            self._in_flight.add(connection)
            if self._timeouts is None:
                self._timeouts = loop.call_later(TIMEOUT_TICK_SECONDS, self._time_out_late)
            try:
                response = await connection.send(data, deadline)
            except _StaleConnectionError:
                if not (reused and may_resend):
                    raise ConnectionClosedError(
                        "the server closed the connection without answering"
                    ) from None
                may_resend = False
                # Its other idle connections were most likely closed at the same time.
                for stale in self._idle.pop(target.key, []):
                    stale.abort()
                continue
            except BaseException:
                connection.abort()
                raise
            finally:
                self._in_flight.discard(connection)
            self._release(target.key, connection)
            return response

    async def close(self) -> None:
        self._closed = True
        for timer in (self._janitor, self._timeouts):
            if timer is not None:
                timer.cancel()
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.close()

    def _parse(self, url: str) -> _Target | None:
        """The target of an http:// URL, None for other schemes; HttpClientError if invalid."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise HttpClientError(f"invalid URL {url!r}: {error}") from None
        target: _Target | None = None
        if parts.scheme == "http":
            if not parts.hostname:
                raise HttpClientError(f"invalid URL {url!r}: it has no host")
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            if any(character.isspace() for character in path):
                raise HttpClientError(f"invalid URL {url!r}: its path contains white space")
            host_header = parts.netloc.rpartition("@")[2]
            target = _Target((parts.hostname, port or 80), path, host_header)
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        self._targets[url] = target
        return target

    def _take_idle(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, target: _Target, deadline: float
    ) -> _Connection:
        host, port = target.key
        try:
            async with asyncio.timeout_at(deadline):
                _transport, connection = await loop.create_connection(
                    lambda: _Connection(loop), host, port
                )
        except OSError as error:
            raise ConnectError(f"cannot connect to {host}:{port}: {error}") from None
        return connection

    def _release(self, key: tuple[str, int], connection: _Connection) -> None:
        if self._closed or not connection.reusable or connection.closed:
            connection.abort()
            return
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self._max_idle:
            connection.abort()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)
        if self._janitor is None:
            loop = asyncio.get_running_loop()
            self._janitor = loop.call_later(self._idle_seconds / 2, self._close_expired)

    def _time_out_late(self) -> None:
        """Fail requests past their deadline; runs every tick while any request is in flight."""
        self._timeouts = None
        now = asyncio.get_running_loop().time()
        for connection in [c for c in self._in_flight if c.deadline <= now]:
            connection.time_out()
        if self._in_flight and not self._closed:
            loop = asyncio.get_running_loop()
            self._timeouts = loop.call_later(TIMEOUT_TICK_SECONDS, self._time_out_late)

    def _close_expired(self) -> None:
        """Close connections idle for longer than `idle_seconds`; servers drop them anyway."""
        self._janitor = None
        oldest_allowed = time.monotonic() - self._idle_seconds
        for key, idle in list(self._idle.items()):
            keep = [c for c in idle if not c.closed and c.idle_since >= oldest_allowed]
            for connection in idle:
                if connection not in keep:
                    connection.abort()
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        if self._idle and not self._closed:
            loop = asyncio.get_running_loop()
            self._janitor = loop.call_later(self._idle_seconds / 2, self._close_expired)

    async def _request_with_aiohttp(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> ClientResponse:
        if self._fallback is None:
            self._fallback = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
            )
        try:
            # No Content-Type of aiohttp's own: an event without datacontenttype stays without.
            async with self._fallback.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                skip_auto_headers=("Content-Type",),
            ) as response:
                content = await response.read()
                pairs = [(name.lower(), value) for name, value in response.headers.items()]
                return ClientResponse(response.status, Headers(pairs), content)
        except aiohttp.ClientError as error:
            raise HttpClientError(f"{type(error).__name__}: {error}") from None


class WireHeaders(dict[str, str]):
    """Header fields that keep their wire form once sent: an event delivered to many Triggers
    is formatted once. Do not change them after the first request."""

    __slots__ = ("_wire",)

    def wire(self) -> bytes:
        try:
            return self._wire
        except AttributeError:
            self._wire: bytes = _header_block(self)
            return self._wire


def _header_block(headers: Mapping[str, str]) -> bytes:
    lines = [f"{name}: {value}\r\n" for name, value in headers.items()]
    block = "".join(lines)
    # A CR or LF inside a name or value would smuggle in a header (or a second request).
    if block.count("\n") != len(lines) or block.count("\r") != len(lines):
        raise HttpClientError("a header name or value contains a line break")
    return block.encode("utf-8")


def _request_bytes(method: str, target: _Target, headers: Mapping[str, str], body: bytes) -> bytes:
    block = headers.wire() if isinstance(headers, WireHeaders) else _header_block(headers)
    start = (
        f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    return b"".join((start.encode("utf-8"), block, b"\r\n", body))
