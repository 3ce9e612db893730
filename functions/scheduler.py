"""scheduler: place replicas on nodes, and give their resources back when they end.

Placement is `shoal.orchestration.placement` (filters, then the `spread` or `binpack` score of
`SHOAL_SCHEDULER_STRATEGY`, plus spreading a deployment over nodes): one invocation reads every
node once and places every replica it was asked for, as kube-scheduler would one at a time.

- `replica.requested`: placed or started again (`shoal.controllers.placing`); out go
  `replica.scheduled`, one per node listing its replicas (`shoalnode=<node>`), and
  `replica.unschedulable` listing those no node takes.
- `replica.stopped`, `.lost`, `.exited` (lists): their shares are given back
  (`shoal.controllers.releasing`), then the waiting replicas are tried again.
- Unschedulable replicas are also retried on `node.joined` and on the `scheduler-retry` tick
  (which catches a join seen here before nodes recorded the node).
- The `scheduler-resync` tick rebuilds the Allocations and the Nodes' sums from the Replica
  records, so a lost event cannot leak capacity for good.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast, get_args

from shoal import events
from shoal.controllers.placing import place_requested, retry_unschedulable
from shoal.controllers.records import entries
from shoal.controllers.releasing import free, resync
from shoal.orchestration.placement import Strategy
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

STRATEGY_VARIABLE = "SHOAL_SCHEDULER_STRATEGY"
RETRY_TICK = "scheduler-retry"
RESYNC_TICK = "scheduler-resync"
FREED = (events.REPLICA_STOPPED, events.REPLICA_LOST, events.REPLICA_EXITED)


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    strategy: Strategy = "spread"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SchedulerSettings:
        value = environ.get(STRATEGY_VARIABLE) or "spread"
        if value not in get_args(Strategy):
            raise ValueError(
                f"{STRATEGY_VARIABLE}={value!r}: write spread (least allocated nodes first, "
                "the default) or binpack (most allocated first)"
            )
        return cls(strategy=cast(Strategy, value))


SETTINGS = SchedulerSettings.from_environ(os.environ)


@function(
    subscriptions=[
        Subscription(name="requested", attributes={"type": events.REPLICA_REQUESTED}),
        Subscription(name="freed", filters=[any_of(*(exact(type=t) for t in FREED))]),
        Subscription(name="joined", attributes={"type": events.NODE_JOINED}),
        Tick(RETRY_TICK, "* * * * *", local_period_seconds=1),
        Tick(RESYNC_TICK, "* * * * *", local_period_seconds=30),
    ]
)
def scheduler(event: Event, ctx: Context) -> list[Emit]:
    """Places requested replicas, frees what ended replicas held, retries unschedulable ones."""
    tx, strategy, now = ctx.state, SETTINGS.strategy, ctx.now().timestamp()
    if event.type == events.REPLICA_REQUESTED:
        return place_requested(tx, event.data_object(), strategy, now)
    if event.type in FREED:
        changed = free(tx, event.type, entries(event.data_object()))
        return retry_unschedulable(tx, strategy, now) if changed else []
    if event.type == events.NODE_JOINED or event.source.endswith(f"/pingsources/{RETRY_TICK}"):
        return retry_unschedulable(tx, strategy, now)
    if event.source.endswith(f"/pingsources/{RESYNC_TICK}"):
        return retry_unschedulable(tx, strategy, now) if resync(tx, ctx.log) else []
    raise PermanentError(f"the scheduler does not handle {event.type} from {event.source}")
