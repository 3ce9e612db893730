"""Benchmark helper processes: a bare 202 server, a counting subscriber with latency stats, and
a bare relay.

Run as `python benchmarks/_sink.py bare PORT [lean]`, `python benchmarks/_sink.py sink PORT
[lean]` or `python benchmarks/_sink.py relay PORT [lean] --to URL`: aiohttp's web server by
default, or with `lean` the broker's own asyncio + httptools server (`local_broker.http`),
which costs about a third of aiohttp's CPU per request. The relay is two hops and nothing else:
it forwards each POST (method, headers that matter, body) to URL with a kept-alive client
(aiohttp's, or the broker's own with `lean`) and answers 202 once URL has answered 2xx; it
stores nothing and matches nothing, so it is the most a broker could do on one core.
The sink reads the send time the load generator put in the `benchsent` extension (ns since the
epoch; both processes share the machine's clock) and, from a broker, the `knativearrivaltime`
its ingress stamped (microseconds), and keeps both latencies for `GET /stats`: sender to
subscriber includes the load generator's own client (a Python one, slow on a busy machine);
ingress to subscriber is what the broker alone adds. Only events that carry `benchsent` (the
paced latency phase's) are timed: wrk's events are just counted, so that in a throughput phase
the subscriber is as minimal as the bare hop, and `GET /count` (the count alone) is what a
caller polls while it waits, not `/stats` with its lists of up to a million latencies.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TypedDict

import aiohttp
import uvloop
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local_broker.http.client import HttpClient
from local_broker.http.message import Request, Response, json_response
from local_broker.http.server import Handler, HttpServer


class SinkStats(TypedDict):
    """The sink's `GET /stats`: the events received since the last `POST /reset`, and the
    latency in seconds of each one that carried `benchsent`, in arrival order."""

    count: int
    latencies: list[float]
    ingress_latencies: list[float]
    """From `knativearrivaltime` (set by the broker's ingress) to arrival here, in seconds."""


class Latencies:
    """What the sink measured since the last reset."""

    def __init__(self) -> None:
        self.count = 0
        self.sent: list[float] = []
        self.ingress: list[float] = []

    def record(self, headers: Mapping[str, str]) -> None:
        now_ns = time.time_ns()
        self.count += 1
        sent = headers.get("ce-benchsent")
        if sent is None:
            return
        self.sent.append((now_ns - int(sent)) / 1e9)
        arrived = headers.get("ce-knativearrivaltime")
        if arrived is not None:
            self.ingress.append(now_ns / 1e9 - datetime.fromisoformat(arrived).timestamp())

    def stats(self) -> SinkStats:
        return SinkStats(count=self.count, latencies=self.sent, ingress_latencies=self.ingress)

    def reset(self) -> None:
        self.count = 0
        self.sent.clear()
        self.ingress.clear()


async def health(_request: web.Request) -> web.Response:
    return web.Response(status=200)


def posting_app(post: Callable[[web.Request], Awaitable[web.Response]]) -> web.Application:
    """`post` answers every POST; GET /health answers 200 (readiness)."""
    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/{tail:.*}", post)
    return app


def bare_app() -> web.Application:
    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    return posting_app(accept)


def sink_app() -> web.Application:
    seen = Latencies()

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        seen.record(request.headers)
        return web.Response(status=202)

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(seen.stats())

    async def count(_request: web.Request) -> web.Response:
        return web.json_response({"count": seen.count})

    async def reset(_request: web.Request) -> web.Response:
        seen.reset()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_get("/count", count)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", receive)
    return app


def lean_handler(kind: str) -> Handler:
    """The same endpoints as bare_app() or sink_app(), for the broker's own HTTP server."""
    seen = Latencies()
    accepted, ok, reset = Response(202), Response(200), Response(204)

    async def handle(request: Request) -> Response:
        path = request.path
        if kind == "bare":
            return ok if path == "/health" else accepted
        if path == "/stats":
            return json_response(seen.stats())
        if path == "/count":
            return json_response({"count": seen.count})
        if path == "/reset":
            seen.reset()
            return reset
        seen.record(request.headers)
        return accepted

    return handle


FORWARDED = ("content-type", "ce-specversion", "ce-id", "ce-source", "ce-type", "ce-benchsent")
RELAY_TIMEOUT = 30.0


def relay_app(to: str) -> web.Application:
    sessions: list[aiohttp.ClientSession] = []  # made on the first request, inside the loop
    timeout = aiohttp.ClientTimeout(total=RELAY_TIMEOUT)

    async def forward(request: web.Request) -> web.Response:
        if not sessions:
            sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
        body = await request.read()
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        async with sessions[0].post(to, data=body, headers=headers, timeout=timeout) as answer:
            await answer.read()
            return web.Response(status=202 if answer.status < 300 else 502)

    return posting_app(forward)


def lean_relay(to: str) -> Handler:
    client = HttpClient()
    accepted, ok, failed = Response(202), Response(200), Response(502)

    async def handle(request: Request) -> Response:
        if request.method != "POST":
            return ok
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        answer = await client.request("POST", to, headers, request.body or b"", RELAY_TIMEOUT)
        return accepted if answer.status < 300 else failed

    return handle


async def serve_lean(handler: Handler, port: int) -> None:
    server = HttpServer(handler)
    await server.start("127.0.0.1", port)
    await asyncio.Event().wait()  # until the process is terminated


if __name__ == "__main__":
    kind, port, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    to = rest[rest.index("--to") + 1] if "--to" in rest else ""
    if "lean" in rest:
        uvloop.run(serve_lean(lean_relay(to) if kind == "relay" else lean_handler(kind), port))
    else:
        app = relay_app(to) if kind == "relay" else bare_app() if kind == "bare" else sink_app()
        uvloop.install()
        web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
