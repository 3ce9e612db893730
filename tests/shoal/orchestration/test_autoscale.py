from __future__ import annotations

import pytest

from shoal.orchestration.autoscale import (
    Decision,
    History,
    PodMetric,
    Policy,
    decide,
    metric_replicas,
)
from shoal.orchestration.spec import Autoscale


def pods(
    *utilizations: float | None, ready: bool = True, first: int = 0, pending: bool = False
) -> list[PodMetric]:
    return [PodMetric(f"p{first + i}", u, ready, pending) for i, u in enumerate(utilizations)]


@pytest.mark.parametrize(
    ("current", "the_pods", "target", "expected"),
    [
        # HPA docs, algorithm details: 200m against 100m doubles, 50m against 100m halves
        (3, pods(200, 200, 200), 100, 6),
        (4, pods(50, 50, 50, 50), 100, 2),
        # Kubernetes v1.33 tolerance blog post: 50 replicas at 90 % against 75 % -> 60
        (50, pods(*[90] * 50), 75, 60),
        # the average decides, not each pod
        (4, pods(10, 90, 100, 200), 50, 8),
        (3, pods(99, 1, 50), 50, 3),
        # tolerance 0.1: a ratio of exactly 1.1 or 0.9 changes nothing
        (10, pods(*[77] * 10), 70, 10),
        (10, pods(*[63] * 10), 70, 10),
        (10, pods(*[78] * 10), 70, 12),  # ratio 1.114: ceil(11.14)
        (10, pods(*[62] * 10), 70, 9),  # ratio 0.886: ceil(8.86)
        (10, pods(*[70.5] * 10), 70, 10),
        (1, pods(0), 50, 0),  # idle asks for 0; minReplicas is applied later, by decide
        (2, pods(0, 0), 50, 0),
        (1, pods(1000), 50, 20),
        # missing metrics, scaling down: assumed at 100 % of the target
        (4, pods(20, 20, 20, None), 50, 3),  # (3*20 + 50) / 4 = 27.5 -> ceil(2.2)
        # missing metrics, scaling up: assumed at 0 %
        (4, pods(100, 100, 100, None), 50, 6),  # (300 + 0) / 4 = 75 -> ratio 1.5 -> 6
        # ...and if that reverses the direction, nothing changes
        (4, pods(60, None, None, None), 50, 4),  # 60 / 4 = 15: would be a scale-down
        (4, pods(40, None, None, None), 50, 4),  # (40 + 150) / 4 = 47.5: within tolerance
        # ...or if it lands within the tolerance
        (10, pods(*[56] * 9, None), 50, 10),  # 504 / 10 = 50.4
        (3, pods(50, 50, None), 50, 3),  # exactly on target: missing pods change nothing
        # not-yet-ready pods on a scale-up count as 0 %
        (4, pods(100, 100) + pods(100, 100, ready=False, first=2), 50, 4),  # 200 / 4 = 50
        (4, pods(150, 150) + pods(150, 150, ready=False, first=2), 50, 6),  # 300 / 4 = 75
        (3, pods(100) + pods(90, 90, ready=False, first=1), 50, 3),  # 100 / 3 reverses it
        # ...and are simply left out of a scale-down
        (4, pods(10, 10) + pods(90, 90, ready=False, first=2), 50, 1),
        # an unready pod without a metric is a missing one
        (4, pods(20, 20, 20) + pods(None, ready=False, first=3), 50, 3),
        # ...but a pending (not started) one is not yet ready: 0 % on a scale-up...
        (4, pods(150, 150) + pods(None, None, ready=False, pending=True, first=2), 50, 6),
        (4, pods(100, 100) + pods(None, None, ready=False, pending=True, first=2), 50, 4),
        # ...and left out of a scale-down, where a missing one would count at the target
        (4, pods(20, 20) + pods(None, None, ready=False, pending=True, first=2), 50, 1),
        (4, pods(20, 20, None, None), 50, 3),
        # set-aside pods only damp a change: never a scale-down from a scale-up reading
        (10, pods(100, 100, 100, None), 50, 10),  # 6 < 10 while the metric says "up"
        # no usable metric at all: keep the count
        (4, [], 50, 4),
        (4, pods(None, None), 50, 4),
        (4, pods(80, 80, ready=False), 50, 4),
        # the decimal value counts: 0.1 tolerance and 55 % of 50 % is exactly 1.1
        (10, pods(*[55.0] * 10), 50.0, 10),
    ],
)
def test_metric_replicas(
    current: int, the_pods: list[PodMetric], target: float, expected: int
) -> None:
    assert metric_replicas(current, the_pods, target) == expected


def test_tolerance_can_be_changed() -> None:
    assert metric_replicas(10, pods(*[52] * 10), 50, tolerance=0.0) == 11
    assert metric_replicas(10, pods(*[60] * 10), 50, tolerance=0.25) == 10


POLICY = Policy(min_replicas=1, max_replicas=10, target_cpu_utilization=50)
T = 10_000.0


@pytest.mark.parametrize(
    ("current", "the_pods", "policy", "history", "replicas", "reason"),
    [
        (4, pods(50, 50, 50, 50), POLICY, History(), 4, "CPU within tolerance of the target"),
        (4, pods(100, 100, 100, 100), POLICY, History(), 8, "CPU above target asks for 8"),
        (4, pods(None, None, None, None), POLICY, History(), 4, "no CPU metrics"),
        # scale-up limit: max(100 %, 4 pods) of the count at the start of the 15 s period
        (2, pods(500, 500), POLICY, History(), 6, "scale-up limited to 6 this period"),
        (1, pods(1000), POLICY, History(), 5, "scale-up limited to 5"),
        (6, pods(*[500] * 6), Policy(1, 100, 50), History(), 12, "scale-up limited to 12"),
        (6, pods(*[500] * 6), POLICY, History(), 10, "capped at maxReplicas"),
        # 4 added 5 s ago count against this period: start was 2, limit 6, so no more now
        (6, pods(*[200] * 6), POLICY, History(scale_ups=((T - 5, 4),)), 6, "limited to 6"),
        # ...but 15 s later the period has moved on
        (6, pods(*[200] * 6), POLICY, History(scale_ups=((T - 15, 4),)), 10, "capped"),
        # scale-down: the highest recommendation of the last 300 s wins
        (10, pods(*[25] * 10), POLICY, History(((T - 100, 8),)), 8, "highest in the window is 8"),
        (10, pods(*[25] * 10), POLICY, History(((T - 299, 12),)), 10, "asks for 5"),
        (10, pods(*[25] * 10), POLICY, History(((T - 300, 9),)), 5, "asks for 5"),
        (10, pods(*[25] * 10), POLICY, History(((T - 400, 9), (T - 30, 7))), 7, ""),
        # the window does not hold back scaling up
        (4, pods(100, 100, 100, 100), POLICY, History(((T - 10, 2),)), 8, "asks for 8"),
        # bounds
        (4, pods(0, 0, 0, 0), POLICY, History(), 1, "raised to minReplicas"),
        (1, pods(50), Policy(3, 10, 50), History(), 3, "raised to minReplicas"),
        (15, pods(*[50] * 15), POLICY, History(), 10, "capped at maxReplicas"),
        # a deployment scaled to 0 is left alone
        (0, [], Policy(2, 10, 50), History(), 0, "paused at 0 replicas"),
    ],
)
def test_decide(
    *,
    current: int,
    the_pods: list[PodMetric],
    policy: Policy,
    history: History,
    replicas: int,
    reason: str,
) -> None:
    decision = decide(current, the_pods, policy, history, T)
    assert decision.replicas == replicas
    assert reason in decision.reason


def test_decide_returns_the_history_to_keep() -> None:
    history = History(
        recommendations=((T - 400, 9), (T - 30, 7)), scale_ups=((T - 20, 1), (T - 5, 1))
    )
    decision = decide(4, pods(100, 100, 100, 100), POLICY, history, T)
    assert decision == Decision(  # the period started at 3 replicas: at most 7 now
        replicas=7,
        history=History(recommendations=((T - 30, 7), (T, 8)), scale_ups=((T - 5, 1), (T, 3))),
        reason="CPU above target asks for 8; scale-up limited to 7 this period",
    )


def test_paused_keeps_the_history_unchanged() -> None:
    history = History(((T - 1, 3),), ((T - 1, 1),))
    assert decide(0, pods(90), POLICY, history, T).history is history


def test_a_dip_does_not_remove_replicas_until_the_window_passes() -> None:
    history, replicas, trace = History(), 10, []
    loads = [50] * 4 + [10] * 60  # one sample every 15 s (trace[i] is t = 15 i); drop at t=60
    for i, load in enumerate(loads):
        decision = decide(replicas, pods(*[load] * replicas), POLICY, history, 15.0 * i)
        history, replicas = decision.history, decision.replicas
        trace.append(replicas)
    assert trace[:23] == [10] * 23  # 300 s after the last recommendation of 10 (t=45)...
    assert trace[23:43] == [2] * 20  # ...at t=345 the highest left is 2, 10 % of 10 replicas
    assert trace[43:] == [1] * 21  # 300 s after the last 2 (t=345), 10 % of 2 asks for 1


def test_policy_of_a_spec() -> None:
    policy = Policy.of(Autoscale(max_replicas=8, min_replicas=2, target_cpu_utilization=70))
    assert (policy.min_replicas, policy.max_replicas, policy.target_cpu_utilization) == (2, 8, 70)
    assert (policy.tolerance, policy.scale_down_window_seconds) == (0.1, 300.0)
    assert (policy.scale_up_period_seconds, policy.scale_up_percent, policy.scale_up_pods) == (
        15.0,
        100,
        4,
    )
