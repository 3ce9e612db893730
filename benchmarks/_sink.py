"""Benchmark helper processes: a bare 202 server and a counting subscriber with latency stats.

Run as `python benchmarks/_sink.py bare PORT [lean]` or `python benchmarks/_sink.py sink PORT
[lean]`: aiohttp's web server by default, or with `lean` the broker's own asyncio + httptools
server (`local_broker.http`), which costs about a third of aiohttp's CPU per request.
The sink reads the send time the load generator put in the `benchsent` extension (ns since the
epoch; both processes share the machine's clock) and keeps the latencies for `GET /stats`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import uvloop
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local_broker.http.message import Request, Response, json_response
from local_broker.http.server import Handler, HttpServer


def bare_app() -> web.Application:
    async def accept(_request: web.Request) -> web.Response:
        await _request.read()
        return web.Response(status=202)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(status=200)

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/{tail:.*}", accept)
    return app


def sink_app() -> web.Application:
    latencies: list[float] = []
    counts = {"n": 0}

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        counts["n"] += 1
        sent = request.headers.get("ce-benchsent")
        if sent is not None:
            latencies.append((time.time_ns() - int(sent)) / 1e9)
        return web.Response(status=202)

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"count": counts["n"], "latencies": latencies})

    async def reset(_request: web.Request) -> web.Response:
        counts["n"] = 0
        latencies.clear()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", receive)
    return app


def lean_handler(kind: str) -> Handler:
    """The same endpoints as bare_app() or sink_app(), for the broker's own HTTP server."""
    latencies: list[float] = []
    counts = {"n": 0}
    accepted, ok, reset = Response(202), Response(200), Response(204)

    async def handle(request: Request) -> Response:
        path = request.path
        if kind == "bare":
            return ok if path == "/health" else accepted
        if path == "/stats":
            return json_response({"count": counts["n"], "latencies": latencies})
        if path == "/reset":
            counts["n"] = 0
            latencies.clear()
            return reset
        counts["n"] += 1
        sent = request.headers.get("ce-benchsent")
        if sent is not None:
            latencies.append((time.time_ns() - int(sent)) / 1e9)
        return accepted

    return handle


async def serve_lean(kind: str, port: int) -> None:
    server = HttpServer(lean_handler(kind))
    await server.start("127.0.0.1", port)
    await asyncio.Event().wait()  # until the process is terminated


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if sys.argv[3:] == ["lean"]:
        uvloop.run(serve_lean(kind, port))
    else:
        app = bare_app() if kind == "bare" else sink_app()
        uvloop.install()
        web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
