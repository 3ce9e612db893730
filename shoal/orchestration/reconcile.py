"""One level-triggered reconcile of a deployment: from all its replicas, everything to do now.

Events can be lost outside Shoal's control, so the deployments function does not trust that it
saw every edge: each reconcile looks at every replica as recorded and corrects what is missing
or extra, the way a Kubernetes controller re-lists. On top of the rolling-update step
(`rollout.plan_step`), it
- forgets replicas that are gone (stopped, lost) so the step replaces them, and stops what is
  to go: through its agent when it is on a node, by forgetting it when it was never placed;
- restarts exited replicas in place once their back-off (`rollout.restart_delay`) has passed;
- asks again when a request got no news for `request_timeout` seconds: a replica still waiting
  to be placed or started, or still stopping. Unschedulable replicas are the scheduler's to
  retry when capacity appears; they are asked for again only after five minutes, the longest
  kube-scheduler keeps a Pod in its unschedulable queue (podMaxInUnschedulablePodsDuration).

How long "no news" is (`request_timeout`) grows with the deployment: a request for thousands of
replicas is placed, published, started and reported one replica event at a time, and until the
deployments function has caught up with those events its records show replicas still waiting.
Asking again for all of them then would only pile duplicates onto a busy pipeline (each one a
`replica.scheduled` more, a `replica.started` more), slowing it down further: 10,514
`replica.scheduled` for 2,100 replicas on a busy two-core machine, before the timeout grew.

A deployment being deleted has no target: everything stops.

How often a whole reconcile runs (`step_on_replica_event`, `step_due`): its cost grows with the
deployment's replicas, and one replica event arrives per replica. Up to `FULL_STEP_REPLICAS`
it runs on every event. Above, it runs on a replica event only while the rollout waits for
replicas (`Actions.blocked`), and at most once per `STEP_SECONDS_PER_REPLICA` per replica
(0.4 ms: every 4 s at 10,000 replicas), which keeps reconciling a small share of the work however
many events come; periodic ticks cover the rest. A tick reconciles the deployments that are due,
least recently reconciled first, up to `TICK_BUDGET_REPLICAS` replicas (`due_on_tick`), so one
invocation's work stays bounded however large the cluster grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shoal.orchestration.rollout import Replica, Step, Target, plan_step

__all__ = [
    "FULL_STEP_REPLICAS",
    "REQUEST_SECONDS_PER_REPLICA",
    "STEP_SECONDS_PER_REPLICA",
    "TICK_BUDGET_REPLICAS",
    "UNSCHEDULABLE_RETRY_SECONDS",
    "Actions",
    "Observed",
    "due_on_tick",
    "reconcile",
    "request_timeout",
    "step_due",
    "step_on_replica_event",
]

Phase = Literal[
    "pending", "unschedulable", "scheduled", "running", "exited", "stopping", "stopped", "lost"
]
FULL_STEP_REPLICAS = 100
STEP_SECONDS_PER_REPLICA = 0.0004
UNSCHEDULABLE_RETRY_SECONDS = 300.0
REQUEST_SECONDS_PER_REPLICA = 0.05
"""Above 600 replicas (at a 30 s base), a deployment's requests get 50 ms more per replica to
show news: 20 replicas a second, the slowest the local platform was measured to start them."""
TICK_BUDGET_REPLICAS = 20_000
_GONE: frozenset[Phase] = frozenset({"stopped", "lost"})


@dataclass(frozen=True)
class Observed:
    """A replica as recorded. `restart_at` is set while an exited replica backs off and cleared
    once its restart was asked for; `requested_at` is when its placement, start or stop was last
    asked for."""

    name: str
    revision: str
    phase: Phase
    node: str | None = None
    ready_since: float | None = None
    restart_at: float | None = None
    requested_at: float = 0.0


@dataclass(frozen=True)
class Actions:
    """What to do. `create` new replicas of the target revision; `restart` and
    `request_again` go to the scheduler (with the new ones); `stop` and `stop_again` to the
    replicas' agents; `forget` deletes records. `step` is None while deleting. `blocked`: work
    is left that waits for replicas to start or stop."""

    create: int = 0
    restart: tuple[str, ...] = ()
    request_again: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    stop_again: tuple[str, ...] = ()
    forget: tuple[str, ...] = ()
    step: Step | None = None
    blocked: bool = False


def reconcile(
    target: Target | None,
    replicas: Sequence[Observed],
    *,
    now: float,
    progress_at: float,
    request_timeout: float,
) -> Actions:
    """Everything to do for a deployment heading for `target` (None: being deleted)."""
    present = [replica for replica in replicas if replica.phase not in _GONE]
    gone = tuple(replica.name for replica in replicas if replica.phase in _GONE)
    stop_again = tuple(
        r.name for r in present if r.phase == "stopping" and now - r.requested_at >= request_timeout
    )
    if target is None:
        leaving = [replica for replica in present if replica.phase != "stopping"]
        return Actions(
            stop=tuple(r.name for r in leaving if r.node is not None),
            stop_again=stop_again,
            forget=gone + tuple(r.name for r in leaving if r.node is None),
        )
    step = plan_step(target, [_as_rollout(r) for r in present], now=now, progress_at=progress_at)
    stopped = set(step.stop)
    leaving = [replica for replica in present if replica.name in stopped]
    kept = [r for r in present if r.name not in stopped and r.phase != "stopping"]
    return Actions(
        create=step.create,
        restart=tuple(
            r.name
            for r in kept
            if r.phase == "exited" and r.restart_at is not None and r.restart_at <= now
        ),
        request_again=tuple(r.name for r in kept if _ask_again(r, now, request_timeout)),
        stop=tuple(r.name for r in leaving if r.node is not None),
        stop_again=stop_again,
        forget=gone + tuple(r.name for r in leaving if r.node is None),
        step=step,
        blocked=(
            any(replica.revision != target.revision for replica in kept)
            or step.updated + step.create < target.replicas
        ),
    )


def request_timeout(base: float, replicas: int) -> float:
    """Seconds a placement, start or stop of a replica of a deployment of `replicas` replicas
    may go without news before it is asked for again: `base`, or REQUEST_SECONDS_PER_REPLICA
    per replica when that is longer."""
    return max(base, replicas * REQUEST_SECONDS_PER_REPLICA)


def step_due(replicas: int, *, stepped_at: float, now: float) -> bool:
    """Whether a periodic tick should reconcile a deployment of `replicas` replicas now."""
    return replicas <= FULL_STEP_REPLICAS or now - stepped_at >= replicas * STEP_SECONDS_PER_REPLICA


def step_on_replica_event(replicas: int, *, blocked: bool, stepped_at: float, now: float) -> bool:
    """Whether news of one replica should run a whole reconcile of its deployment now."""
    return replicas <= FULL_STEP_REPLICAS or (
        blocked and step_due(replicas, stepped_at=stepped_at, now=now)
    )


def due_on_tick(deployments: Sequence[tuple[str, int, float]], *, now: float) -> list[str]:
    """Which of the deployments `(name, replicas, stepped_at)` a tick reconciles, in order."""
    due = sorted(
        (entry for entry in deployments if step_due(entry[1], stepped_at=entry[2], now=now)),
        key=lambda entry: (entry[2], entry[0]),
    )
    chosen: list[str] = []
    spent = 0
    for name, replicas, _ in due:
        cost = max(replicas, 1)
        if chosen and spent + cost > TICK_BUDGET_REPLICAS:
            break
        chosen.append(name)
        spent += cost
    return chosen


def _ask_again(replica: Observed, now: float, request_timeout: float) -> bool:
    waited = now - replica.requested_at
    if replica.phase == "unschedulable":
        return waited >= UNSCHEDULABLE_RETRY_SECONDS
    waiting = replica.phase in ("pending", "scheduled") or (
        replica.phase == "exited" and replica.restart_at is None
    )
    return waiting and waited >= request_timeout


def _as_rollout(replica: Observed) -> Replica:
    """The rollout's view: waiting replicas are pending; an exited one is running but not ready
    (it still holds its place and restarts there)."""
    if replica.phase == "stopping":
        return Replica(replica.name, replica.revision, "stopping")
    if replica.phase == "running":
        return Replica(replica.name, replica.revision, "running", replica.ready_since)
    if replica.phase == "exited":
        return Replica(replica.name, replica.revision, "running", None)
    return Replica(replica.name, replica.revision, "pending")
