"""A test-only function with a periodic tick and a subscription in every filter dialect."""

from __future__ import annotations

from shoal.runtime import (
    Context,
    Delivery,
    Emit,
    Event,
    Subscription,
    Tick,
    any_of,
    cesql,
    exact,
    function,
    not_,
    prefix,
    suffix,
)

TICKS = "Ticks"


@function(
    subscriptions=[
        Tick("every-second", "* * * * *", local_period_seconds=1),
        Subscription(
            name="tests",
            filters=[
                any_of(exact(type="dev.shoal.test.a"), prefix(type="dev.shoal.test.b")),
                not_(suffix(subject="-canary")),
                cesql("source LIKE '/tests%'"),
            ],
            delivery=Delivery(retry=2, backoff_policy="linear", timeout="PT5S"),
        ),
    ]
)
def ticking(event: Event, ctx: Context) -> list[Emit]:
    """Records each event it gets under its type: ticks and test events alike."""
    ctx.state.put(TICKS, event.id, {"type": event.type, "source": event.source})
    return []
