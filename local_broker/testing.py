"""A test harness for broker users: an in-process broker and a recording subscriber.

    async with RecordingSink() as sink, running_broker(data_dir, [manifests]) as broker:
        await post_event(broker.ingress_url(), event)
        received = await sink.wait_for(1)

Both listen on 127.0.0.1 with a free port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
from aiohttp import web

from local_broker.binding import decode_request, encode_binary, encode_structured
from local_broker.event import CloudEvent
from local_broker.server import BrokerServer
from local_broker.settings import BrokerSettings


@dataclass(frozen=True, slots=True)
class Received:
    headers: Mapping[str, str]
    body: bytes
    path: str = "/"  # the request's path: several Triggers may share one sink

    @property
    def event(self) -> CloudEvent:
        return decode_request(self.headers, self.body)[0]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


Responder = Callable[[Received], Reply]


def reply_with_event(event: CloudEvent, *, structured: bool = False) -> Reply:
    headers, body = encode_structured(event) if structured else encode_binary(event)
    return Reply(200, headers, body)


class RecordingSink:
    """An HTTP subscriber that records every request and answers what `responder` says."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or (lambda _received: Reply())
        self.received: list[Received] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(dict(request.headers), await request.read(), request.path)
        reply = self.responder(received)
        async with self._arrived:
            self.received.append(received)
            self._arrived.notify_all()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(status=reply.status, headers=dict(reply.headers), body=reply.body)

    async def __aenter__(self) -> RecordingSink:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in self._runner.addresses if isinstance(a, tuple))
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least `count` requests arrived; returns all received so far."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.received) >= count), timeout
            )
            return list(self.received)


@asynccontextmanager
async def running_broker(
    data_dir: Path,
    manifests: list[Path] | tuple[Path, ...] = (),
    services: Mapping[str, str] | None = None,
    **settings: object,
) -> AsyncIterator[BrokerServer]:
    base = BrokerSettings(
        manifests=tuple(manifests), port=0, data_dir=data_dir, services=dict(services or {})
    )
    server = BrokerServer(replace(base, **settings))  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def post_event(url: str, event: CloudEvent, *, structured: bool = False) -> tuple[int, bytes]:
    headers, body = encode_structured(event) if structured else encode_binary(event)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, data=body, headers=headers, skip_auto_headers=("Content-Type",)
        ) as response,
    ):
        return response.status, await response.read()
