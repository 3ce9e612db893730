"""The functions-framework adapter: an HTTP-signature target that serves one function.

functions-framework loads `--source`, looks up `--target` (it must be a plain Python function)
and calls it with each `flask.Request`. The target builds its `Invoker` on the first request,
not at import: settings come from the process environment then (`K_SINK`, `SHOAL_STATE_URL`),
and the store is opened in the process that serves (gunicorn forks workers after import).

`GET` answers 200 with the function's name: readiness probes and `curl` can see what runs.
A state store that cannot be opened yet answers 503 (retried) until it can.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol, cast

import flask

from shoal.runtime.errors import NotACloudEventError
from shoal.runtime.invoke import Invoker
from shoal.runtime.logs import FunctionLogger, configure_logging
from shoal.runtime.publisher import HttpPublisher
from shoal.runtime.settings import RuntimeSettings
from shoal.runtime.spec import FunctionSpec
from shoal.state import StateError, open_store


class Target(Protocol):
    """What `@function` returns: a functions-framework HTTP target with the spec attached."""

    __name__: str
    shoal: FunctionSpec

    def __call__(self, request: flask.Request) -> flask.Response: ...


def invoker_from_settings(spec: FunctionSpec, settings: RuntimeSettings) -> Invoker:
    if settings.data_dir is not None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    publisher = (
        None
        if settings.sink is None
        else HttpPublisher(
            settings.sink,
            timeout_seconds=settings.publish_timeout_seconds,
            batch=settings.sink_batch,
        )
    )
    return Invoker(spec, open_store(settings.state_url), publisher)


def respond(invoker: Invoker, request: flask.Request) -> flask.Response:
    if request.method in ("GET", "HEAD"):
        spec = invoker.spec
        info = {"function": spec.name, "service": spec.service, "source": spec.event_source}
        return flask.Response(json.dumps(info), 200, mimetype="application/json")
    if request.method != "POST":
        return flask.Response(status=405, headers={"Allow": "GET, HEAD, POST"})
    try:
        headers = request_headers(request.environ)
    except NotACloudEventError as error:
        result = invoker.refuse(error)
    else:
        result = invoker.handle(headers, request.get_data(), names_lowered=True)
    # An empty 2xx without ce- headers is "no reply" (Knative): no Content-Type either.
    return _Answer(result.body, result.status, dict(result.headers))


class _Answer(flask.Response):
    """A response with only the headers given: no default Content-Type."""

    default_mimetype = None


def request_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """A request's headers, names lower-cased, read from the WSGI environ (PEP 3333: header
    `ce-id` is `HTTP_CE_ID`, Content-Type is `CONTENT_TYPE`); cheaper than Werkzeug's view.

    PEP 3333 hands header values over decoded as ISO-8859-1, byte for byte. Raw bytes beyond
    ASCII in a header are UTF-8 as far as CloudEvents is concerned (HTTP binding 3.1.3.2: the
    value of a ce- header is UTF-8, percent-encoded or not), so they are decoded again as UTF-8:
    id "é" is then the same in binary mode as in structured mode. A ce- header whose bytes are
    not UTF-8 raises NotACloudEventError; other headers keep their ISO-8859-1 reading."""
    headers = {
        key[5:].lower().replace("_", "-"): value
        for key, value in environ.items()
        if key[:5] == "HTTP_"
    }
    content_type = environ.get("CONTENT_TYPE")
    if content_type:
        headers["content-type"] = content_type
    for name, value in headers.items():
        if not value.isascii():
            headers[name] = _utf8_header(name, value)
    return headers


def _utf8_header(name: str, value: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:  # not from a PEP 3333 server: the text is already decoded
        return value
    except UnicodeDecodeError:
        if name[:3] != "ce-":
            return value
        raise NotACloudEventError(
            f"the request is not a valid CloudEvent: the value of header {name} is not UTF-8 "
            "(HTTP binding 3.1.3.2: attribute values travel as UTF-8, best percent-encoded)"
        ) from None


def make_target(spec: FunctionSpec) -> Target:
    lock = threading.Lock()
    invokers: list[Invoker] = []

    def invoker() -> Invoker:
        if not invokers:
            with lock:
                if not invokers:
                    configure_logging()
                    invokers.append(
                        invoker_from_settings(spec, RuntimeSettings.from_environ(os.environ))
                    )
        return invokers[0]

    def target(request: flask.Request) -> flask.Response:
        try:
            served = invoker()
        except StateError as error:  # e.g. the database is not up yet: the broker retries
            FunctionLogger(spec.name).error("cannot open the state store", error=str(error))
            body = json.dumps({"error": f"cannot open the state store: {error}"})
            return flask.Response(body, 503, mimetype="application/json")
        return respond(served, request)

    target.__name__ = target.__qualname__ = spec.name
    target.__doc__ = spec.handler.__doc__
    target.__module__ = spec.handler.__module__
    served = cast(Target, target)
    served.shoal = spec
    return served
