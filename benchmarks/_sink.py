"""Benchmark helper processes: a bare 202 server and a counting subscriber with latency stats.

Run as `python benchmarks/_sink.py bare PORT` or `python benchmarks/_sink.py sink PORT`.
The sink reads the send time the load generator put in the `benchsent` extension (ns since the
epoch; both processes share the machine's clock) and keeps the latencies for `GET /stats`.
"""

from __future__ import annotations

import sys
import time

import uvloop
from aiohttp import web


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


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    app = bare_app() if kind == "bare" else sink_app()
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
