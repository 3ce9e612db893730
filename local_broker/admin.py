"""Operator endpoints: health, readiness, Prometheus metrics, and reading the event log.

`GET /-/events?broker=NS/NAME&after=SEQ&limit=N&type=T&wait=SECONDS` lists logged events in order
(with `wait`, it long-polls until something newer than `after` arrives); `last=N` instead of
`limit` lists the newest N, as `tail` would. `GET /-/dead-letters` (`after`, `limit` or `last`)
lists events that exhausted their retries without a dead-letter sink. `-` is no valid namespace
name, so these paths never collide with a broker's ingress.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST

from local_broker.http.message import Request, Response, json_response
from local_broker.jsonformat import event_to_json
from local_broker.log import EventLog
from local_broker.runtime import BrokerRuntime

MAX_LIMIT = 1000
MAX_WAIT_SECONDS = 30.0
AdminHandler = Callable[[BrokerRuntime, Request], Coroutine[Any, Any, Response]]


async def handle_healthz(_runtime: BrokerRuntime, _request: Request) -> Response:
    return json_response({"status": "ok"})


async def handle_readyz(runtime: BrokerRuntime, _request: Request) -> Response:
    if runtime.ready:
        return json_response({"status": "ready"})
    return json_response({"status": "not ready"}, 503)


async def handle_metrics(runtime: BrokerRuntime, _request: Request) -> Response:
    return Response(200, await runtime.metrics_exposition(), CONTENT_TYPE_LATEST)


class QueryError(ValueError):
    pass


def _query(request: Request) -> dict[str, str]:
    """The first value of each query parameter (blank ones kept, as aiohttp does)."""
    parsed = parse_qs(request.query_string, keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def _int_param(
    query: Mapping[str, str], name: str, default: int, maximum: int | None = None
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"query parameter {name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise QueryError(f"query parameter {name} must not be negative")
    return min(value, maximum) if maximum is not None else value


def _limit(query: Mapping[str, str]) -> tuple[int, bool]:
    """(how many, whether the newest): `limit=N` (the first N, default 100) or `last=N`."""
    if "last" in query:
        if "limit" in query:
            raise QueryError("give limit (the first N) or last (the newest N), not both")
        return _int_param(query, "last", 0, MAX_LIMIT), True
    return _int_param(query, "limit", 100, MAX_LIMIT), False


def _log_of(runtime: BrokerRuntime, query: Mapping[str, str]) -> EventLog:
    broker = query.get("broker", "default/default")
    namespace, _, name = broker.partition("/")
    log = runtime.logs.get((namespace, name))
    if log is None:
        known = ", ".join(sorted("/".join(key) for key in runtime.logs)) or "none"
        raise QueryError(f"there is no broker {broker!r}; known: {known}")
    return log


async def handle_events(runtime: BrokerRuntime, request: Request) -> Response:
    query = _query(request)
    try:
        log = _log_of(runtime, query)
        after = _int_param(query, "after", 0)
        limit, newest = _limit(query)
        wait = min(float(_int_param(query, "wait", 0)), MAX_WAIT_SECONDS)
    except QueryError as error:
        return json_response({"error": str(error)}, 400)
    event_type = query.get("type")
    head = log.head()
    records = log.read_range(after, limit, event_type, newest=newest)
    if not records and wait > 0 and head <= after:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(log.wait_beyond(after), timeout=wait)
        head = log.head()
        records = log.read_range(after, limit, event_type, newest=newest)
    # Everything up to `scanned` was looked at: a client filtering by type resumes after it
    # instead of scanning the non-matching events again.
    last = records[-1].seq if records else after
    scanned = last if len(records) == limit and not newest else max(head, last)
    return json_response(
        {
            "head": head,
            "scanned": scanned,
            "events": [
                {"seq": r.seq, "arrival": r.arrival, "event": event_to_json(r.event)}
                for r in records
            ],
        }
    )


async def handle_dead_letters(runtime: BrokerRuntime, request: Request) -> Response:
    query = _query(request)
    try:
        log = _log_of(runtime, query)
        after = _int_param(query, "after", 0)
        limit, newest = _limit(query)
    except QueryError as error:
        return json_response({"error": str(error)}, 400)
    letters = log.dead_letters(limit=limit, after_id=after, newest=newest)
    return json_response(
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


# GET (and HEAD) only.
ADMIN_ROUTES: Final[Mapping[str, AdminHandler]] = {
    "/healthz": handle_healthz,
    "/readyz": handle_readyz,
    "/metrics": handle_metrics,
    "/-/events": handle_events,
    "/-/dead-letters": handle_dead_letters,
}
