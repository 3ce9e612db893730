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
from collections.abc import Callable, Mapping
from functools import partial
from typing import Final

from local_broker.http.client_connection import (
    MAX_RESPONSE_BODY_BYTES,
    BadResponseError,
    ClientConnection,
    ClientResponse,
    ConnectError,
    ConnectionClosedError,
    HttpClientError,
    StaleConnectionError,
)
from local_broker.http.client_fallback import AiohttpFallback
from local_broker.http.client_request import Target, parse_target, request_bytes

__all__ = [
    "TIMEOUT_TICK_SECONDS",
    "BadResponseError",
    "ClientResponse",
    "ConnectError",
    "ConnectionClosedError",
    "HttpClient",
    "HttpClientError",
    "StaleConnectionError",
]

_MAX_TARGETS: Final = 1024  # parsed URLs kept; subscribers come from manifests, so few
TIMEOUT_TICK_SECONDS: Final = 0.025


class HttpClient:
    """Requests over pooled connections. Use on one event loop; `await close()` at the end."""

    def __init__(
        self,
        *,
        max_idle_per_host: int = 4096,
        idle_seconds: float = 30.0,
        max_body_bytes: int = MAX_RESPONSE_BODY_BYTES,
    ) -> None:
        """`max_body_bytes`: what is kept of a 2xx answer's body (`client_connection`)."""
        self._max_idle = max_idle_per_host
        self._max_body_bytes = max_body_bytes
        self._idle_seconds = idle_seconds
        self._idle: dict[tuple[str, int], list[ClientConnection]] = {}
        self._targets: dict[str, Target | None] = {}
        self._janitor: asyncio.TimerHandle | None = None
        self._in_flight: set[ClientConnection] = set()
        self._timeouts: asyncio.TimerHandle | None = None
        self._fallback = AiohttpFallback(max_body_bytes)
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
                return await self._fallback.request(method, url, headers, body, timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        data = request_bytes(method, target, headers, body)
        may_resend = True
        while True:
            connection = self._take_idle(target.key)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(loop, target, deadline)
            self._in_flight.add(connection)
            if self._timeouts is None:
                self._timeouts = loop.call_later(TIMEOUT_TICK_SECONDS, self._time_out_late)
            response: ClientResponse | None
            try:
                response = await connection.send(data, deadline)
            except StaleConnectionError:
                if not (reused and may_resend):
                    raise ConnectionClosedError(
                        "the server closed the connection without answering"
                    ) from None
                may_resend = False
                # Its other idle connections were most likely closed at the same time.
                for stale in self._idle.pop(target.key, []):
                    stale.abort()
                response = None  # sent again below (mypyc compiles no `continue` in a `finally`)
            except BaseException:
                connection.abort()
                raise
            finally:
                self._in_flight.discard(connection)
            if response is not None:
                self._release(target.key, connection)
                return response

    def send_on_idle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        timeout: float,
        on_done: Callable[[asyncio.Future[ClientResponse]], None],
    ) -> asyncio.Future[ClientResponse] | None:
        """`request` without a coroutine, when a pooled connection to `url` is idle.

        Returns None (nothing sent) when there is none or the URL was never requested: use
        `request`; raises HttpClientError (nothing sent) when the request cannot be written.
        Else the request is written and `on_done` gets the settled future: its response,
        `TimeoutError`, an `HttpClientError`, or a `StaleConnectionError` when the server had
        closed the connection without answering (not sent: `request` it again).
        Cancelling the future abandons the request and closes the connection.
        """
        target = self._targets.get(url)
        if target is None or not self._idle.get(target.key):
            return None
        data = request_bytes(method, target, headers, body)  # HttpClientError: nothing taken
        connection = self._take_idle(target.key)
        if connection is None:
            return None
        loop = connection.loop
        self._in_flight.add(connection)
        if self._timeouts is None:
            self._timeouts = loop.call_later(TIMEOUT_TICK_SECONDS, self._time_out_late)
        waiter = connection.send(data, loop.time() + timeout)
        waiter.add_done_callback(partial(self._settle_idle_send, target.key, connection, on_done))
        return waiter

    def _settle_idle_send(
        self,
        key: tuple[str, int],
        connection: ClientConnection,
        on_done: Callable[[asyncio.Future[ClientResponse]], None],
        answer: asyncio.Future[ClientResponse],
    ) -> None:
        self._in_flight.discard(connection)
        if answer.cancelled() or answer.exception() is not None:
            connection.abort()
            if not answer.cancelled() and isinstance(answer.exception(), StaleConnectionError):
                # Its other idle connections were most likely closed at the same time.
                for stale in self._idle.pop(key, []):
                    stale.abort()
        else:
            self._release(key, connection)
        on_done(answer)

    async def close(self) -> None:
        self._closed = True
        for timer in (self._janitor, self._timeouts):
            if timer is not None:
                timer.cancel()
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()
        await self._fallback.close()

    def _parse(self, url: str) -> Target | None:
        """`parse_target`, remembered for the next request to `url`."""
        target = parse_target(url)
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        self._targets[url] = target
        return target

    def _take_idle(self, key: tuple[str, int]) -> ClientConnection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, target: Target, deadline: float
    ) -> ClientConnection:
        host, port = target.key
        try:
            async with asyncio.timeout_at(deadline):
                _transport, connection = await loop.create_connection(
                    lambda: ClientConnection(loop, self._max_body_bytes), host, port
                )
        except OSError as error:
            raise ConnectError(f"cannot connect to {host}:{port}: {error}") from None
        return connection

    def _release(self, key: tuple[str, int], connection: ClientConnection) -> None:
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
