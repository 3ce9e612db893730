"""deployments: keep each Deployment's replicas what its spec asks for, one rolling step at a time.

In: `deployment.applied` / `.deleted` / `.scaled` / `.rollback` (people, the autoscaler, images),
the replicas' news (`replica.started` / `.exited` / `.stopped` from agents, `.lost` from nodes,
each listing many replicas) and a periodic tick. Out: `replica.requested` listing the replicas
to place or start (per revision, in shares), `replica.stop.requested` listing one node's
replicas to stop (extension `shoalnode` names the node, for its agent's Trigger),
`deployment.rejected` for a spec a person must fix and `deployment.stalled` when a rollout
passes its progress deadline. docs/orchestration.md has the data shapes.

The decisions are pure (`shoal.orchestration`); `shoal.controllers` applies them to the records
(`deployment_events`, `replica_news`, `deployment_step`). The tick is level-triggered: whatever a
lost event left missing or extra is corrected there. `replica.scheduled` and `.unschedulable`
are not subscribed: the scheduler records them itself and they change nothing decided here.
"""

from __future__ import annotations

from collections.abc import Callable

from shoal import events
from shoal.controllers.deployment_events import (
    on_applied,
    on_deleted,
    on_rollback,
    on_scaled,
    on_tick,
)
from shoal.controllers.deployment_step import Invocation
from shoal.controllers.replica_news import REPLICA_NEWS, on_replica_news
from shoal.runtime import (
    Context,
    Emit,
    Event,
    PermanentError,
    Subscription,
    Tick,
    any_of,
    exact,
    function,
)

HANDLERS: dict[str, Callable[[Invocation], None]] = {
    **dict.fromkeys(REPLICA_NEWS, on_replica_news),
    events.DEPLOYMENT_APPLIED: on_applied,
    events.DEPLOYMENT_DELETED: on_deleted,
    events.DEPLOYMENT_SCALED: on_scaled,
    events.DEPLOYMENT_ROLLBACK: on_rollback,
    events.PING: on_tick,
}
DEPLOYMENT_EVENTS = (
    events.DEPLOYMENT_APPLIED,
    events.DEPLOYMENT_DELETED,
    events.DEPLOYMENT_SCALED,
    events.DEPLOYMENT_ROLLBACK,
)


@function(
    subscriptions=[
        Subscription(
            name="deployments",
            filters=[any_of(*(exact(type=t) for t in DEPLOYMENT_EVENTS))],
        ),
        Subscription(
            name="replicas",
            filters=[any_of(*(exact(type=t) for t in REPLICA_NEWS))],
        ),
        Tick("deployments-reconcile", "* * * * *", local_period_seconds=2),
    ]
)
def deployments(event: Event, ctx: Context) -> list[Emit]:
    """Reconcile Deployments: rolling updates, restarts, scaling, deletion and periodic repair."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        raise PermanentError(f"deployments does not handle {event.type} events")
    inv = Invocation(ctx, event, ctx.now().timestamp())
    handler(inv)
    return inv.emitted()
