"""Test-only functions: emitting (K_SINK or reply), failing, refusing, and a dead-letter sink.

Each counts its invocations in the state store (kind `Counter`, named after the function), in
the same transaction as everything else it does, so tests can see whether a handler ran and
whether its writes were committed.
"""

from __future__ import annotations

from shoal.runtime import (
    Context,
    Delivery,
    Emit,
    Event,
    PermanentError,
    Subscription,
    function,
)

COUNTER = "Counter"
DEAD_LETTER = "DeadLetter"


def count(ctx: Context) -> int:
    current = ctx.state.get(COUNTER, ctx.function)
    total = 1 if current is None else int(str(current.body["n"])) + 1
    ctx.state.put(COUNTER, ctx.function, {"n": total})
    return total


@function(subscriptions=[Subscription(attributes={"type": "dev.shoal.test.echo"})])
def echo(event: Event, ctx: Context) -> list[Emit]:
    """Emits `data.emit` (default 1) `dev.shoal.test.echoed` events."""
    count(ctx)
    wanted = event.data_object().get("emit", 1)
    if not isinstance(wanted, int):
        raise PermanentError(f"data.emit must be an integer, not {wanted!r}")
    return [
        Emit(
            "dev.shoal.test.echoed",
            subject=event.subject,
            data={"index": index, "input": event.id},
            extensions={"shoalnode": "node-1"},
        )
        for index in range(wanted)
    ]


@function(subscriptions=[Subscription(attributes={"type": "dev.shoal.test.broken"})])
def broken(event: Event, ctx: Context) -> list[Emit]:
    count(ctx)
    raise RuntimeError(f"cannot handle {event.id}")


@function(
    subscriptions=[
        Subscription(
            attributes={"type": "dev.shoal.test.refused"},
            delivery=Delivery(retry=3, backoff_delay="PT0.5S", dead_letter_sink="dead_letters"),
        )
    ]
)
def refuse(event: Event, ctx: Context) -> list[Emit]:
    count(ctx)
    raise PermanentError(f"{event.id} can never be handled")


@function(subscriptions=[])
def dead_letters(event: Event, ctx: Context) -> list[Emit]:
    """A dead-letter sink: no Trigger, the broker posts failed events here directly."""
    ctx.state.put(DEAD_LETTER, event.id, {"type": event.type, **event.extensions})
    return []
