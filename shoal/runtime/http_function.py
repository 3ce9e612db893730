"""`@http_function`: a function that answers plain HTTP requests from what it reads in state.

    @http_function
    def api(request: flask.Request, state: StateReader) -> flask.Response:
        return flask.jsonify([r.name for r in state.list("Deployment")])

This is for reading, e.g. the API behind `shoal get`. It is served by functions-framework like
every function (`--target api`), rendered as a Knative Service without Triggers, and started by
`shoal up` like the others; but it takes no CloudEvents: no inbox, no outbox, no `K_SINK`.

Each request runs the handler in one state transaction, so everything it reads is one
consistent snapshot; a `Conflict` (a writer holding the database too long) re-runs it. The
handler sees only `get` and `list` (`StateReader`). As with `@function`, the store is opened on
the first request, from the environment of the process that serves (`SHOAL_STATE_URL`).
"""

from __future__ import annotations

import inspect
import json
import os
import threading
import traceback
from pathlib import Path
from typing import Protocol, cast

import flask

from shoal.runtime.logs import FunctionLogger, configure_logging
from shoal.runtime.settings import RuntimeSettings
from shoal.runtime.spec import HttpFunctionSpec, HttpHandler
from shoal.state import StateError, StateStore, open_store, run_in_transaction

TRANSACTION_ATTEMPTS = 5


class HttpTarget(Protocol):
    """What `@http_function` returns: a functions-framework HTTP target, its spec attached."""

    __name__: str
    shoal: HttpFunctionSpec

    def __call__(self, request: flask.Request) -> flask.Response: ...


def http_function(handler: HttpHandler) -> HttpTarget:
    """Register `handler(request, state) -> flask.Response` as an HTTP function."""
    spec = HttpFunctionSpec(
        name=handler.__name__,
        handler=handler,
        source_file=Path(inspect.getfile(handler)).resolve(),
    )
    return make_http_target(spec)


def http_spec_of(value: object) -> HttpFunctionSpec | None:
    """The HttpFunctionSpec of an `@http_function` target, None for anything else."""
    spec = getattr(value, "shoal", None)
    return spec if isinstance(spec, HttpFunctionSpec) else None


def _store_from_environment() -> StateStore:
    settings = RuntimeSettings.from_environ(os.environ)
    if settings.data_dir is not None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_store(settings.state_url)


def _error(status: int, message: str) -> flask.Response:
    return flask.Response(json.dumps({"error": message}), status, mimetype="application/json")


def make_http_target(spec: HttpFunctionSpec) -> HttpTarget:
    lock = threading.Lock()
    stores: list[StateStore] = []
    log = FunctionLogger(spec.name)

    def store() -> StateStore:
        if not stores:
            with lock:
                if not stores:
                    configure_logging()
                    stores.append(_store_from_environment())
        return stores[0]

    def target(request: flask.Request) -> flask.Response:
        try:
            return run_in_transaction(
                store(), lambda tx: spec.handler(request, tx), attempts=TRANSACTION_ATTEMPTS
            )
        except StateError as error:  # not open yet, or busy: the client may retry
            log.error("state store unavailable", error=f"{type(error).__name__}: {error}")
            return _error(503, f"state store unavailable: {error}")
        except Exception as error:
            log.error(
                "handler failed",
                error=f"{type(error).__name__}: {error}",
                traceback=traceback.format_exc(),
            )
            return _error(500, f"{spec.name} failed: {type(error).__name__}: {error}")

    target.__name__ = target.__qualname__ = spec.name
    target.__doc__ = spec.handler.__doc__
    target.__module__ = spec.handler.__module__
    served = cast(HttpTarget, target)
    served.shoal = spec
    return served
