"""The HorizontalPodAutoscaler algorithm for CPU utilization, with its default behavior.

From https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/:

- #algorithm-details: desired = ceil(current * currentUtilization / targetUtilization), with no
  change while the ratio is within the tolerance (0.1) of 1. Pods without a metric, and when the
  average says "scale up" pods not yet ready, are set aside; the average is then recomputed
  counting missing pods at 100 % of the target on a scale-down and at 0 % on a scale-up, and
  not-yet-ready pods at 0 %. If the recomputed ratio is within the tolerance or points the other
  way, nothing changes. A pod that has not started (Pending) is not yet ready, never missing
  (the controller's `groupPods` checks the phase before the metric).
- #stabilization-window: a scale-down goes only as far as the highest recommendation of the last
  300 s, so a brief dip does not remove replicas that are needed again moments later.
- #default-behavior: a scale-up adds at most max(100 %, 4 pods) of the replicas counted at the
  start of each 15 s period; scale-down has no rate limit beyond the window.
- #implicit-maintenance-mode-deactivation: a deployment scaled to 0 is left alone.

The replica count comes out between minReplicas and maxReplicas. Arithmetic is exact
(fractions of the decimal values given), so a ratio of exactly 1.1 is within the tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from shoal.orchestration.spec import Autoscale

__all__ = ["Decision", "History", "PodMetric", "Policy", "decide", "metric_replicas"]


@dataclass(frozen=True)
class PodMetric:
    """One replica's CPU use as a percentage of its request; None when no metric arrived.

    `pending`: not started yet (HPA's Pending phase). HPA sets such a pod aside as not yet
    ready before it looks for a metric, so it never counts as a missing one.
    """

    name: str
    cpu_utilization: float | None
    ready: bool = True
    pending: bool = False


@dataclass(frozen=True)
class Policy:
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: float
    tolerance: float = 0.1
    scale_down_window_seconds: float = 300.0
    scale_up_period_seconds: float = 15.0
    scale_up_percent: int = 100
    scale_up_pods: int = 4

    @classmethod
    def of(cls, autoscale: Autoscale) -> Policy:
        return cls(
            min_replicas=autoscale.min_replicas,
            max_replicas=autoscale.max_replicas,
            target_cpu_utilization=autoscale.target_cpu_utilization,
        )


@dataclass(frozen=True)
class History:
    """What the autoscaler must remember between calls: (time, raw recommendation) within the
    stabilization window, and (time, replicas added) within the scale-up period."""

    recommendations: tuple[tuple[float, int], ...] = ()
    scale_ups: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True)
class Decision:
    replicas: int
    history: History
    reason: str


def metric_replicas(
    current: int, pods: Sequence[PodMetric], target: float, tolerance: float = 0.1
) -> int:
    """The replica count the metrics ask for, before stabilization, rate limit and bounds."""
    measured = [
        _exact(pod.cpu_utilization)
        for pod in pods
        if pod.ready and not pod.pending and pod.cpu_utilization is not None
    ]
    missing = sum(1 for pod in pods if not pod.pending and pod.cpu_utilization is None)
    unready = sum(
        1 for pod in pods if pod.pending or (not pod.ready and pod.cpu_utilization is not None)
    )
    if not measured:
        return current
    goal, slack = _exact(target), _exact(tolerance)
    ratio = sum(measured) / (len(measured) * goal)
    rebalance_unready = ratio > 1 and unready > 0
    if not missing and not rebalance_unready:
        # ceil(ratio * pods measured), the documented ceil(current * ratio) when all report
        return current if abs(ratio - 1) <= slack else math.ceil(sum(measured) / goal)
    if rebalance_unready:
        measured += [Fraction(0)] * unready
    if ratio < 1:
        measured += [goal] * missing
    elif ratio > 1:
        measured += [Fraction(0)] * missing
    recomputed = sum(measured) / (len(measured) * goal)
    if abs(recomputed - 1) <= slack or (recomputed > 1) != (ratio > 1):
        return current
    desired = math.ceil(sum(measured) / goal)
    # Set-aside pods can only damp a change, never turn it around.
    return current if (desired > current) != (ratio > 1) else desired


def decide(
    current: int, pods: Sequence[PodMetric], policy: Policy, history: History, now: float
) -> Decision:
    """The replica count to set now, the history to keep for next time, and why."""
    if current == 0:
        return Decision(0, history, "autoscaling is paused at 0 replicas; scale up to resume it")
    raw = metric_replicas(current, pods, policy.target_cpu_utilization, policy.tolerance)
    reporting = any(
        pod.ready and not pod.pending and pod.cpu_utilization is not None for pod in pods
    )
    window = [
        (t, r) for t, r in history.recommendations if now - t < policy.scale_down_window_seconds
    ]
    window.append((now, raw))
    highest = max(r for _, r in window)
    desired = raw if raw > current else min(current, highest)
    if not reporting:
        reason = "no CPU metrics from ready replicas"
    elif raw == current:
        reason = "CPU within tolerance of the target"
    elif raw > current:
        reason = f"CPU above target asks for {raw}"
    else:
        reason = f"CPU below target asks for {raw}; highest in the window is {highest}"

    ups = [(t, n) for t, n in history.scale_ups if now - t < policy.scale_up_period_seconds]
    start = current - sum(n for _, n in ups)
    by_percent = -(-start * (100 + policy.scale_up_percent) // 100)
    limit = max(by_percent, start + policy.scale_up_pods)
    limit = max(limit, current)  # no further scale-up until earlier ones leave the period
    if desired > limit:
        desired, reason = limit, f"{reason}; scale-up limited to {limit} this period"
    if desired > policy.max_replicas:
        desired, reason = policy.max_replicas, f"{reason}; capped at maxReplicas"
    if desired < policy.min_replicas:
        desired, reason = policy.min_replicas, f"{reason}; raised to minReplicas"
    if desired > current:
        ups.append((now, desired - current))
    return Decision(desired, History(tuple(window), tuple(ups)), reason)


def _exact(value: float) -> Fraction:
    """The decimal value written, not its binary float approximation (0.1 is exactly 1/10)."""
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
