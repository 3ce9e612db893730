"""The agent's HTTP endpoint.

- `POST /`: the subscriber of the agent's Trigger. One CloudEvent (binary or structured mode):
  202 once the decision is recorded (the driver work follows), 400 with `{"error": ...}` for
  an event the agent can never act on (not retried by the broker: dead-lettered).
- `GET /`: 200 with `{"agent", "driver", "nodes", "replicas"}` once the agent runs (readiness).
- `POST /sim/load` (sim driver only): `{"deployment": "web", "cpu_utilization": 90}` sets the
  cpu utilisation the heartbeats report for that deployment's replicas; 200 with
  `{"deployment", "cpu_utilization", "replicas"}` (how many run now). 404 with other drivers.
- `GET /replicas/<name>/log?lines=N[&follow=1]`: the last N lines (default 100, at most
  10,000) the replica printed, as text/plain (what `shoal logs` shows); with `follow=1` a
  stream that goes on with what it prints until it exits or is stopped. 404 for a replica the
  agent does not have (never placed here, or stopped: its output went with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from aiohttp import web

from shoal.agent.agent import Agent
from shoal.agent.errors import InvalidEvent
from shoal.agent.sim import SimDriver
from shoal.runtime.errors import NotACloudEventError
from shoal.runtime.wire import parse_request

__all__ = ["build_app"]

AGENT_KEY = web.AppKey("agent", Agent)
NAME_KEY = web.AppKey("name", str)
FOLLOWERS_KEY = web.AppKey("followers", set[asyncio.Task[Any]])
DEFAULT_LOG_LINES = 100
MAX_LOG_LINES = 10_000


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def handle_event(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        event = parse_request(request.headers, body)
        await request.app[AGENT_KEY].receive(event)
    except (NotACloudEventError, InvalidEvent) as error:
        return _error(400, str(error))
    return web.Response(status=202)


async def handle_status(request: web.Request) -> web.Response:
    agent = request.app[AGENT_KEY]
    return web.json_response(
        {
            "agent": request.app[NAME_KEY],
            "driver": agent.driver.kind,
            "nodes": list(agent.nodes),
            "replicas": len(agent.running()),
        }
    )


async def handle_sim_load(request: web.Request) -> web.Response:
    driver = request.app[AGENT_KEY].driver
    if not isinstance(driver, SimDriver):
        return _error(404, f"/sim/load needs --driver sim; this agent runs --driver {driver.kind}")
    example = '{"deployment": "web", "cpu_utilization": 90}'
    try:
        document = json.loads(await request.read())
    except ValueError:
        return _error(400, f"the body must be JSON like {example}")
    if not isinstance(document, Mapping):
        return _error(400, f"the body must be a JSON object like {example}")
    deployment, utilization = document.get("deployment"), document.get("cpu_utilization")
    if not isinstance(deployment, str) or not deployment:
        return _error(400, f"deployment must be a deployment's name, as in {example}")
    if (
        not isinstance(utilization, int | float)
        or isinstance(utilization, bool)
        or not math.isfinite(utilization)
        or utilization < 0
    ):
        return _error(400, f"cpu_utilization must be a percentage >= 0, as in {example}")
    replicas = driver.set_load(deployment, float(utilization))
    return web.json_response(
        {"deployment": deployment, "cpu_utilization": utilization, "replicas": replicas}
    )


async def handle_log(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    raw = request.query.get("lines", str(DEFAULT_LOG_LINES))
    if not raw.isdigit():
        return _error(400, f"lines must be a whole number of lines, got {raw!r}")
    lines = min(int(raw), MAX_LOG_LINES)
    driver = request.app[AGENT_KEY].driver
    if request.query.get("follow") in ("1", "true"):
        pieces = driver.follow_output(name, lines)
        if pieces is None:
            return _no_replica(request, name)
        return await _stream(request, pieces)
    output = await driver.output(name, lines)
    if output is None:
        return _no_replica(request, name)
    return web.Response(text=output + "\n" if output else "", content_type="text/plain")


def _no_replica(request: web.Request, name: str) -> web.Response:
    return _error(
        404,
        f"agent {request.app[NAME_KEY]} has no replica {name}: it was never placed here, "
        "or it was stopped and its output went with it",
    )


async def _stream(request: web.Request, pieces: AsyncGenerator[str, None]) -> web.StreamResponse:
    """Each piece as it comes, until the replica is done, the client goes, or the agent stops
    (its shutdown cancels every follower: see build_app)."""
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    followers = request.app[FOLLOWERS_KEY]
    task = asyncio.current_task()
    assert task is not None
    followers.add(task)
    try:
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                await response.write(piece.encode())
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went, or the agent is stopping: the stream just ends
    finally:
        followers.discard(task)
    return response


async def _stop_followers(app: web.Application) -> None:
    followers: set[asyncio.Task[Any]] = app[FOLLOWERS_KEY]
    for task in tuple(followers):
        task.cancel()


def build_app(agent: Agent, name: str) -> web.Application:
    app = web.Application()
    app[AGENT_KEY] = agent
    app[NAME_KEY] = name
    app.router.add_post("/", handle_event)
    app.router.add_get("/", handle_status)
    app.router.add_post("/sim/load", handle_sim_load)
    app.router.add_get("/replicas/{name}/log", handle_log)
    app[FOLLOWERS_KEY] = set()
    app.on_shutdown.append(_stop_followers)  # before aiohttp waits for handlers to finish
    return app
