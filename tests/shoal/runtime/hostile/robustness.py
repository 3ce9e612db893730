"""Test-only functions for what hostile input and careless handlers do to the runtime.

`emit_as_told` writes state, then emits the event its input's data describes (`Emit` fields as
JSON: `type`, `subject`, `extensions`, and `padding`, a number of bytes of data), so a test can
make it emit anything. `show_data` replies with what the handler saw as data. `count_runs`
records every event it handles. `leaky_api` logs through a library's logger and can make Flask
log an exception (an HTTP function returning nothing).
"""

from __future__ import annotations

import logging
from typing import cast

import flask

from shoal.runtime import Context, Emit, Event, StateReader, Subscription, function, http_function

TYPE = "dev.shoal.test.hostile"


@function(subscriptions=[Subscription(attributes={"type": TYPE})])
def emit_as_told(event: Event, ctx: Context) -> list[Emit]:
    ctx.state.put("Marker", event.id, {"handled": True})
    told = event.data_object()
    padding = int(cast(int, told.get("padding", 0)))
    return [
        Emit(
            cast(str, told.get("type", "dev.shoal.test.told")),
            data={"padding": "x" * padding} if padding else {"ok": True},
            subject=cast("str | None", told.get("subject")),
            extensions=cast("dict[str, str]", told.get("extensions", {})),
        )
    ]


@function(subscriptions=[Subscription(attributes={"type": TYPE})])
def show_data(event: Event, ctx: Context) -> list[Emit]:
    kind = type(event.data).__name__
    shown = event.data.hex() if isinstance(event.data, bytes) else event.data  # bytes as hex
    return [Emit("dev.shoal.test.shown", data={"kind": kind, "data": shown})]


@function(subscriptions=[Subscription(attributes={"type": TYPE})])
def count_runs(event: Event, ctx: Context) -> list[Emit]:
    runs = ctx.state.get("Runs", "all")
    seen = [] if runs is None else list(cast(list[object], runs.body["events"]))
    ctx.state.put("Runs", "all", {"events": [*seen, [event.source, event.id]]})
    return [Emit("dev.shoal.test.counted", subject=event.subject)]


@http_function
def leaky_api(request: flask.Request, state: StateReader) -> flask.Response:
    if request.path == "/warn":
        logging.getLogger("psycopg.pool").warning("discarding closed connection:\n\tsecond line")
        return flask.Response("warned")
    return cast(flask.Response, None)  # Flask refuses it, and logs the exception
