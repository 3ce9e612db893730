"""The broker ingress: `POST /<namespace>/<broker>` takes CloudEvents (HTTP binding 1.0.2).

Answers (Knative data plane, "Broker ingress"): 202 once every event of the request is durably
committed; 400 with a JSON body naming the attribute at fault; 404 for an unknown broker; 405 for
other methods (OPTIONS answers 200 with `Allow`); 413 above the size limit; 503 while shutting down.
A batch is all or nothing: when one event of it is invalid none is accepted, so the sender can fix
and resend it without duplicates.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Final

from local_broker.binding import BindingError, decode_request
from local_broker.http.message import Request, Response, json_response
from local_broker.http.server import Later
from local_broker.log import LogClosed, LogError
from local_broker.runtime import BrokerRuntime
from local_broker.stamping import TTLExhaustedError

ALLOW: Final = "POST, OPTIONS"
_ALLOW_HEADER: Final = (("Allow", ALLOW),)
_ACCEPTED: Final = Response(202)


def _error(status: int, message: str, **fields: object) -> Response:
    return json_response({"error": message, **fields}, status)


def _reject(runtime: BrokerRuntime, broker: str, reason: str) -> None:
    runtime.metrics.rejected.labels(broker, reason).inc()


def handle_broker_path(
    runtime: BrokerRuntime, request: Request, namespace: str, name: str
) -> Response | Later:
    """Any request to `/<namespace>/<name>`."""
    if request.method == "POST":
        return handle_event_post(runtime, request, namespace, name)
    if request.method == "OPTIONS":
        return Response(200, headers=_ALLOW_HEADER)
    return json_response(
        {"error": f"only {ALLOW} are allowed on a broker path"}, 405, _ALLOW_HEADER
    )


def handle_event_post(
    runtime: BrokerRuntime, request: Request, namespace: str, name: str
) -> Response | Later:
    """The answer at once when the request is refused, else a future that settles after the
    commit. No coroutine: a task per request cost about a tenth of the broker's CPU."""
    if not runtime.ready:
        return _error(503, "the broker is starting or shutting down; retry shortly")
    key = (namespace, name)
    if key not in runtime.logs:
        return _error(404, f"there is no broker {namespace}/{name}; known: {_known(runtime)}")
    if request.body is None:
        _reject(runtime, f"{namespace}/{name}", "too_large")
        limit = runtime.settings.max_event_bytes
        return _error(413, f"the request body is larger than the limit of {limit} bytes")
    try:
        events = decode_request(request.headers, request.body)
    except BindingError as invalid:
        _reject(runtime, f"{namespace}/{name}", "invalid_event")
        return json_response(invalid.to_json(), invalid.http_status)
    try:
        stored = runtime.start_ingest(key, events)
    except TTLExhaustedError as looping:
        _reject(runtime, f"{namespace}/{name}", "ttl_exhausted")
        return _error(400, str(looping), attribute="knativebrokerttl")
    except LogError as failed:
        return _not_stored(failed)
    return Later(stored, partial(_answer_when_stored, runtime, key))


def _answer_when_stored(
    runtime: BrokerRuntime, key: tuple[str, str], stored: asyncio.Future[list[int | None]]
) -> Response:
    error = stored.exception()  # raises CancelledError if cancelled: the server answers 503
    if error is None:
        runtime.count_stored(key, stored.result())
        return _ACCEPTED
    if isinstance(error, LogError):
        return _not_stored(error)
    raise error


def _not_stored(error: LogError) -> Response:
    if isinstance(error, LogClosed):
        return _error(503, "the broker is shutting down; retry shortly")
    # Nothing was stored (e.g. the disk is full): the sender must retry, or give up on 500.
    return _error(503 if error.retryable else 500, f"the event was not stored: {error}")


def _known(runtime: BrokerRuntime) -> str:
    return ", ".join(sorted(f"/{ns}/{name}" for ns, name in runtime.logs)) or "none"
