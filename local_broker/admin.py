"""Operator endpoints: health, readiness, Prometheus metrics, and reading the event log.

`GET /-/events?broker=NS/NAME&after=SEQ&limit=N&type=T&wait=SECONDS` lists logged events in order
(with `wait`, it long-polls until something newer than `after` arrives); `GET /-/dead-letters`
lists events that exhausted their retries without a dead-letter sink. `-` is no valid namespace
name, so these paths never collide with a broker's ingress.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from local_broker.ingress import RUNTIME_KEY
from local_broker.jsonformat import event_to_json
from local_broker.log import EventLog
from local_broker.runtime import BrokerRuntime

MAX_LIMIT = 1000
MAX_WAIT_SECONDS = 30.0


async def handle_healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def handle_readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    if runtime.ready:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready"}, status=503)


async def handle_metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    return web.Response(
        body=runtime.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


class QueryError(ValueError):
    pass


def _int_param(request: web.Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"query parameter {name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise QueryError(f"query parameter {name} must not be negative")
    return min(value, maximum) if maximum is not None else value


def _log_of(runtime: BrokerRuntime, request: web.Request) -> EventLog:
    broker = request.query.get("broker", "default/default")
    namespace, _, name = broker.partition("/")
    log = runtime.logs.get((namespace, name))
    if log is None:
        known = ", ".join(sorted("/".join(key) for key in runtime.logs)) or "none"
        raise QueryError(f"there is no broker {broker!r}; known: {known}")
    return log


async def handle_events(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    try:
        log = _log_of(runtime, request)
        after = _int_param(request, "after", 0)
        limit = _int_param(request, "limit", 100, MAX_LIMIT)
        wait = min(float(_int_param(request, "wait", 0)), MAX_WAIT_SECONDS)
    except QueryError as error:
        return web.json_response({"error": str(error)}, status=400)
    event_type = request.query.get("type")
    head = log.head()
    records = log.read_range(after, limit, event_type)
    if not records and wait > 0 and head <= after:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(log.wait_beyond(after), timeout=wait)
        head = log.head()
        records = log.read_range(after, limit, event_type)
    # Everything up to `scanned` was looked at: a client filtering by type resumes after it
    # instead of scanning the non-matching events again.
    last = records[-1].seq if records else after
    scanned = last if len(records) == limit else max(head, last)
    return web.json_response(
        {
            "head": head,
            "scanned": scanned,
            "events": [
                {"seq": r.seq, "arrival": r.arrival, "event": event_to_json(r.event)}
                for r in records
            ],
        }
    )


async def handle_dead_letters(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    try:
        log = _log_of(runtime, request)
        after = _int_param(request, "after", 0)
        limit = _int_param(request, "limit", 100, MAX_LIMIT)
    except QueryError as error:
        return web.json_response({"error": str(error)}, status=400)
    letters = log.dead_letters(limit=limit, after_id=after)
    return web.json_response(
        {
            "dead_letters": [
                {
                    "id": d.id,
                    "trigger": d.trigger,
                    "reason": d.reason,
                    "status": d.status,
                    "at": d.at,
                    "event": event_to_json(d.event),
                }
                for d in letters
            ]
        }
    )


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/-/events", handle_events)
    app.router.add_get("/-/dead-letters", handle_dead_letters)
