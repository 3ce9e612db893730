"""The broker ingress: `POST /<namespace>/<broker>` takes CloudEvents (HTTP binding 1.0.2).

Answers (Knative data plane, "Broker ingress"): 202 once every event of the request is durably
committed; 400 with a JSON body naming the attribute at fault; 404 for an unknown broker; 405 for
other methods (OPTIONS answers 200 with `Allow`); 413 above the size limit; 503 while shutting down.
A batch is all or nothing: when one event of it is invalid none is accepted, so the sender can fix
and resend it without duplicates.
"""

from __future__ import annotations

from aiohttp import web

from local_broker.binding import BindingError, decode_request
from local_broker.log import LogClosed, LogError
from local_broker.runtime import BrokerRuntime
from local_broker.stamping import TTLExhaustedError

ALLOW = "POST, OPTIONS"
RUNTIME_KEY = web.AppKey("runtime", BrokerRuntime)


def _error(status: int, message: str, **fields: object) -> web.Response:
    return web.json_response({"error": message, **fields}, status=status)


def _reject(runtime: BrokerRuntime, broker: str, reason: str) -> None:
    runtime.metrics.rejected.labels(broker, reason).inc()


async def handle_event_post(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    namespace, name = request.match_info["namespace"], request.match_info["broker"]
    broker = f"{namespace}/{name}"
    if not runtime.ready:
        return _error(503, "the broker is starting or shutting down; retry shortly")
    if (namespace, name) not in runtime.logs:
        return _error(404, f"there is no broker {broker}; known: {_known(runtime)}")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        _reject(runtime, broker, "too_large")
        limit = runtime.settings.max_event_bytes
        return _error(413, f"the request body is larger than the limit of {limit} bytes")
    try:
        events = decode_request(request.headers, body)
    except BindingError as error:
        _reject(runtime, broker, "invalid_event")
        return web.json_response(error.to_json(), status=error.http_status)
    try:
        await runtime.ingest((namespace, name), events)
    except TTLExhaustedError as error:
        _reject(runtime, broker, "ttl_exhausted")
        return _error(400, str(error), attribute="knativebrokerttl")
    except LogClosed:
        return _error(503, "the broker is shutting down; retry shortly")
    except LogError as error:
        # Nothing was stored (e.g. the disk is full): the sender must retry, or give up on 500.
        return _error(503 if error.retryable else 500, f"the event was not stored: {error}")
    return web.Response(status=202)


def _known(runtime: BrokerRuntime) -> str:
    return ", ".join(sorted(f"/{ns}/{name}" for ns, name in runtime.logs)) or "none"


async def handle_options(_request: web.Request) -> web.Response:
    return web.Response(status=200, headers={"Allow": ALLOW})


async def handle_other_method(_request: web.Request) -> web.Response:
    return web.json_response(
        {"error": f"only {ALLOW} are allowed on a broker path"},
        status=405,
        headers={"Allow": ALLOW},
    )


def add_ingress_routes(app: web.Application) -> None:
    path = "/{namespace}/{broker}"
    app.router.add_post(path, handle_event_post)
    app.router.add_route("OPTIONS", path, handle_options)
    app.router.add_route("*", path, handle_other_method)
