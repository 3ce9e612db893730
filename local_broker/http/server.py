"""Serving one handler on a port: the listening socket, its connections, the timeout sweep.

What each connection does with requests (pipelining, limits, 100-continue, slow clients) is in
`server_connection`; how it reads and bounds them, in `server_parser`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Sequence
from typing import Any, Final

from local_broker.http.server_connection import ServerConnection
from local_broker.http.server_types import Clock, Handler, HandlerResult, Later, ServerLimits

__all__ = ["Handler", "HandlerResult", "HttpServer", "Later", "ServerLimits"]

_SWEEP_SECONDS: Final = 1.0


class HttpServer:
    """Serve `handler` on (host, port); `await start()`, then `await close()`."""

    def __init__(self, handler: Handler, limits: ServerLimits | None = None) -> None:
        self.handler = handler
        self.limits = limits or ServerLimits()
        self.clock = Clock()
        self.connections: set[ServerConnection] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()

    def forget(self, connection: ServerConnection) -> None:
        self.connections.discard(connection)
        if not self.connections:
            self._drained.set()

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ServerConnection(self), host, port, reuse_address=True, backlog=1024
        )
        self._sweeper = asyncio.create_task(self._sweep(), name="http idle sweeper")
        server: Any = self._server  # uvloop's are a list, typeshed's a tuple: compiled code checks
        sockets: Sequence[socket.socket] = server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Stop listening, close idle connections, give busy ones `grace_seconds`, then abort."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for connection in list(self.connections):
            connection.close_when_idle()
        if self.connections:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), grace_seconds)
        for connection in list(self.connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.check_deadline(now)
