"""Rolling updates and scaling as the Kubernetes Deployment controller does them, one step a call.

Fenceposts (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#max-surge and
#max-unavailable): maxSurge as a percentage of the desired replicas rounds *up*, maxUnavailable
rounds *down*; when both come out 0 maxUnavailable becomes 1, or nothing could ever be replaced.
During a step the total never exceeds desired + maxSurge and the available replicas never drop
below desired - maxUnavailable. A replica is available once it has been ready for
minReadySeconds (#min-ready-seconds).

Shoal counts a replica being stopped towards the total until its agent reports it gone: it still
holds CPU, memory and a host port, so the surge bound holds on the nodes and not only on paper.
That is stricter than Kubernetes, which stops counting a Pod as soon as it is terminating.

One step decides everything that can be done now:
1. new-revision replicas beyond the desired count are stopped (a plain scale-down);
2. new-revision replicas are created, up to the desired count and within the surge;
3. old-revision replicas are stopped, the unavailable ones first, then available ones while
   availability stays at or above the floor, and never more than the replicas that exist beyond
   the floor plus the new ones not yet available (the bound the Kubernetes controller puts on
   scaling down old ReplicaSets, which keeps enough replicas around that may still come up).
Kubernetes does 2 and 3 in separate syncs; doing both at once keeps both fenceposts, because
creating a replica changes no availability and a stopped one still counts in the total.

Progress (#progress-deadline-seconds): a step that creates or stops anything, or a new replica
becoming ready or available, is progress. No progress for progressDeadlineSeconds while not
complete gives the `stalled` verdict; like Kubernetes, Shoal keeps stepping a stalled rollout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from shoal.orchestration.quantity import Percent
from shoal.orchestration.spec import (
    DEFAULT_MAX_SURGE,
    DEFAULT_MAX_UNAVAILABLE,
    Deployment,
    template_hash,
)

__all__ = [
    "Fenceposts",
    "Observation",
    "Replica",
    "Step",
    "Target",
    "fencepost_violations",
    "fenceposts_hold",
    "plan_step",
    "resolve_fenceposts",
    "restart_delay",
]

Phase = Literal["pending", "running", "stopping"]
Verdict = Literal["progressing", "complete", "stalled"]

# Container restart back-off: 10 s doubling per restart, capped at five minutes
# (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#restart-policy).
_FIRST_RESTART_DELAY = 10.0
_MAX_RESTART_DELAY = 300.0


@dataclass(frozen=True)
class Replica:
    """One replica as observed: `pending` until its agent starts it; `ready_since` is None
    while it is not ready."""

    name: str
    revision: str
    phase: Phase = "running"
    ready_since: float | None = None

    def available(self, now: float, min_ready_seconds: float) -> bool:
        return (
            self.phase == "running"
            and self.ready_since is not None
            and now - self.ready_since >= min_ready_seconds
        )


@dataclass(frozen=True)
class Fenceposts:
    max_surge: int
    max_unavailable: int


@dataclass(frozen=True)
class Target:
    """What the rollout is heading for: a count of replicas of one revision."""

    replicas: int
    revision: str
    max_surge: int | Percent = DEFAULT_MAX_SURGE
    max_unavailable: int | Percent = DEFAULT_MAX_UNAVAILABLE
    min_ready_seconds: float = 0.0
    progress_deadline_seconds: float = 600.0

    @classmethod
    def of(cls, deployment: Deployment) -> Target:
        return cls(
            replicas=deployment.replicas,
            revision=template_hash(deployment),
            max_surge=deployment.strategy.max_surge,
            max_unavailable=deployment.strategy.max_unavailable,
            min_ready_seconds=deployment.min_ready_seconds,
            progress_deadline_seconds=deployment.progress_deadline_seconds,
        )


@dataclass(frozen=True)
class Step:
    """What to do now: request `create` new-revision replicas and stop the replicas named in
    `stop`. `updated` and `available` count the new-revision replicas kept and the available
    replicas before acting, for the deployment's status. Pass `progress_at` back in next time.
    """

    create: int
    stop: tuple[str, ...]
    verdict: Verdict
    progress_at: float
    updated: int
    available: int


@dataclass(frozen=True)
class Observation:
    """The replicas that existed at one moment, as a test replaying an event log sees them."""

    now: float
    replicas: tuple[Replica, ...]


def resolve_fenceposts(
    replicas: int, max_surge: int | Percent, max_unavailable: int | Percent
) -> Fenceposts:
    surge = _absolute(max_surge, replicas, round_up=True)
    unavailable = _absolute(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return Fenceposts(max_surge=surge, max_unavailable=unavailable)


def plan_step(
    target: Target, replicas: Sequence[Replica], *, now: float, progress_at: float
) -> Step:
    """One reconcile step towards `target`; `progress_at` is the previous step's (or, for the
    very first, the time the deployment was applied)."""
    desired = target.replicas
    fenceposts = resolve_fenceposts(desired, target.max_surge, target.max_unavailable)

    def available(replica: Replica) -> bool:
        return replica.available(now, target.min_ready_seconds)

    live = [replica for replica in replicas if replica.phase != "stopping"]
    new = sorted((r for r in live if r.revision == target.revision), key=_expendable_first)
    old = sorted((r for r in live if r.revision != target.revision), key=_expendable_first)

    excess = max(0, len(new) - desired)
    stop, new = new[:excess], new[excess:]
    create = max(0, min(desired - len(new), desired + fenceposts.max_surge - len(replicas)))

    floor = max(0, desired - fenceposts.max_unavailable)
    new_unavailable = sum(not available(replica) for replica in new) + create
    # budget = available + unavailable old - floor. The unavailable old sort first, so stopping
    # no more than the budget never takes availability below the floor.
    budget = len(new) + len(old) + create - floor - new_unavailable
    stop += old[: max(0, budget)]

    progress_at = max([progress_at, *(_progress_time(r, now, target) for r in new)])
    if create or stop:
        progress_at = now
    complete = len(replicas) == desired == len(new) and all(available(replica) for replica in new)
    verdict: Verdict
    if complete:
        progress_at, verdict = now, "complete"
    elif now - progress_at > target.progress_deadline_seconds:
        verdict = "stalled"
    else:
        verdict = "progressing"
    return Step(
        create=create,
        stop=tuple(replica.name for replica in stop),
        verdict=verdict,
        progress_at=progress_at,
        updated=len(new),
        available=sum(available(replica) for replica in live),
    )


def restart_delay(restart_count: int) -> float:
    """Seconds to wait before restarting a replica that has already restarted `restart_count`
    times: 10, 20, 40, ... capped at 300."""
    if restart_count < 0:
        raise ValueError(f"restart_count must be 0 or more, not {restart_count}")
    doublings = min(restart_count, 5)  # 10 s * 2**5 is past the cap; keeps 2**n small
    return min(_FIRST_RESTART_DELAY * (1 << doublings), _MAX_RESTART_DELAY)


def fencepost_violations(
    history: Iterable[Observation],
    replicas: int,
    max_surge: int | Percent,
    max_unavailable: int | Percent,
    *,
    min_ready_seconds: float = 0.0,
) -> list[str]:
    """Every observed moment where a fencepost was broken, described; empty when all held.

    The availability floor is only owed once it has been reached: a deployment that is still
    starting up has fewer available replicas than the floor without anything being wrong.
    """
    fenceposts = resolve_fenceposts(replicas, max_surge, max_unavailable)
    ceiling = replicas + fenceposts.max_surge
    floor = replicas - fenceposts.max_unavailable
    violations: list[str] = []
    floor_reached = False
    for index, observed in enumerate(history):
        total = len(observed.replicas)
        available = sum(r.available(observed.now, min_ready_seconds) for r in observed.replicas)
        floor_reached = floor_reached or available >= floor
        if total > ceiling:
            violations.append(f"#{index} at {observed.now}: {total} replicas > ceiling {ceiling}")
        if floor_reached and available < floor:
            violations.append(f"#{index} at {observed.now}: {available} available < floor {floor}")
    return violations


def fenceposts_hold(
    history: Iterable[Observation],
    replicas: int,
    max_surge: int | Percent,
    max_unavailable: int | Percent,
    *,
    min_ready_seconds: float = 0.0,
) -> bool:
    return not fencepost_violations(
        history, replicas, max_surge, max_unavailable, min_ready_seconds=min_ready_seconds
    )


def _absolute(value: int | Percent, replicas: int, *, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    share = value.value * replicas
    return -(-share // 100) if round_up else share // 100


def _expendable_first(replica: Replica) -> tuple[int, float, str]:
    """Which replica to stop first, as Kubernetes ranks Pods to delete: pending before running,
    not ready before ready, ready for less time before ready for longer; then by name."""
    if replica.phase == "pending" or replica.ready_since is None:
        return (0 if replica.phase == "pending" else 1, 0.0, replica.name)
    return (2, -replica.ready_since, replica.name)


def _progress_time(replica: Replica, now: float, target: Target) -> float:
    """When this new replica last made progress: becoming available, else becoming ready."""
    if replica.phase != "running" or replica.ready_since is None:
        return -math.inf
    became_available = replica.ready_since + target.min_ready_seconds
    return became_available if became_available <= now else replica.ready_since
