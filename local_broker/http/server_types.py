"""What the HTTP server is configured with and what a handler may return: plain data, no I/O.

A handler answers at once (a `Response`), later (an `asyncio.Future` of one, or a `Later`), or
is a coroutine function that the server runs as a task; all but the last spare a task per
request, which matters on the broker's ingress.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from local_broker.http.message import Request, Response, status_line


class Later:
    """An answer that waits for `future`: then `answer(future)` makes the response.

    One callback per request, where a future of a Response chained on the work's own future
    costs a second future and two more loop callbacks.
    """

    # A plain class, not a dataclass: compiled, a dataclass keeps its generated (interpreted)
    # __init__, and one of these is made per event (docs/benchmarks.md, thirteenth session).
    __slots__ = ("answer", "future")

    def __init__(
        self, future: asyncio.Future[Any], answer: Callable[[asyncio.Future[Any]], Response]
    ) -> None:
        self.future = future
        self.answer = answer


HandlerResult = Coroutine[Any, Any, Response] | asyncio.Future[Response] | Later | Response
Handler = Callable[[Request], HandlerResult]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_body_bytes: int = 1024 * 1024
    max_line_bytes: int = 8190  # request-target, and each header field (aiohttp's limits)
    max_head_bytes: int = 64 * 1024
    max_header_count: int = 128
    request_seconds: float = 60.0  # from the first byte of a request to its last
    idle_seconds: float = 75.0  # keep-alive: from the last response to the next request


class Clock:
    """Wall-clock date for the Date header, recomputed at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""
        self._bodyless: dict[tuple[int, bytes], bytes] = {}  # whole heads, for this second

    def date_line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = f"Date: {formatdate(now, usegmt=True)}\r\n".encode("ascii")
            self._bodyless.clear()
        return self._line

    def bodyless_head(self, status: int, connection_header: bytes) -> bytes:
        """The whole answer for a status without body or header fields (the ingress's 202)."""
        date = self.date_line()
        head = self._bodyless.get((status, connection_header))
        if head is None:
            head = b"".join(
                (status_line(status), date, b"Content-Length: 0\r\n", connection_header, b"\r\n")
            )
            self._bodyless[status, connection_header] = head
        return head
