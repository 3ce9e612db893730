"""The function runtime: write a typed handler, declare its subscriptions, and it is served
by functions-framework with the transactional outbox described in `shoal.runtime.invoke`.

    from shoal import events
    from shoal.runtime import Context, Emit, Event, Subscription, function

    @function(subscriptions=[Subscription(attributes={"type": events.REPLICA_EXITED})])
    def log_exits(event: Event, ctx: Context) -> list[Emit]:
        ctx.log.info("replica exited", replica=event.subject, data=event.data)
        return []

`@http_function` registers a function that answers plain HTTP requests from state instead
(`shoal.runtime.http_function`).
"""

from shoal.runtime.context import Context
from shoal.runtime.decorator import function, spec_of
from shoal.runtime.errors import PermanentError
from shoal.runtime.event import Emit, Event
from shoal.runtime.http import Target
from shoal.runtime.http_function import HttpTarget, http_function
from shoal.runtime.logs import FunctionLogger
from shoal.runtime.spec import FunctionSpec, Handler, HttpFunctionSpec, StateReader
from shoal.runtime.subscriptions import (
    Delivery,
    Filter,
    Subscription,
    Tick,
    all_of,
    any_of,
    cesql,
    exact,
    not_,
    prefix,
    suffix,
)

__all__ = [
    "Context",
    "Delivery",
    "Emit",
    "Event",
    "Filter",
    "FunctionLogger",
    "FunctionSpec",
    "Handler",
    "HttpFunctionSpec",
    "HttpTarget",
    "PermanentError",
    "StateReader",
    "Subscription",
    "Target",
    "Tick",
    "all_of",
    "any_of",
    "cesql",
    "exact",
    "function",
    "http_function",
    "not_",
    "prefix",
    "spec_of",
    "suffix",
]
