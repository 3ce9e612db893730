"""`@function`: declare a Shoal function and its subscriptions.

    @function(subscriptions=[Subscription(attributes={"type": events.REPLICA_EXITED})])
    def log_exits(event: Event, ctx: Context) -> list[Emit]:
        ctx.log.info("replica exited", replica=event.subject)
        return []

The name bound in the module (`log_exits`) is a functions-framework target, so
`functions-framework --source functions/log_exits.py --target log_exits` serves it; the typed
handler and its declaration stay reachable as `log_exits.shoal` (a `FunctionSpec`), which is
what unit tests call and `shoal manifests` renders.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

from shoal.runtime.http import Target, make_target
from shoal.runtime.spec import FunctionSpec, Handler
from shoal.runtime.subscriptions import Subscribes


def function(*, subscriptions: Sequence[Subscribes]) -> Callable[[Handler], Target]:
    """Register `handler(event, ctx) -> Sequence[Emit]` with the Triggers and ticks it needs."""

    def register(handler: Handler) -> Target:
        spec = FunctionSpec(
            name=handler.__name__,
            handler=handler,
            subscriptions=tuple(subscriptions),
            source_file=Path(inspect.getfile(handler)).resolve(),
        )
        return make_target(spec)

    return register


def spec_of(value: object) -> FunctionSpec | None:
    """The FunctionSpec of a `@function` target, None for anything else."""
    spec = getattr(value, "shoal", None)
    return spec if isinstance(spec, FunctionSpec) else None
