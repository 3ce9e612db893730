from __future__ import annotations

import pytest

from shoal.orchestration.reconcile import (
    TICK_BUDGET_REPLICAS,
    UNSCHEDULABLE_RETRY_SECONDS,
    Actions,
    Observed,
    due_on_tick,
    reconcile,
    request_timeout,
    step_due,
    step_on_replica_event,
)
from shoal.orchestration.rollout import Target

NOW = 1000.0
TIMEOUT = 30.0


def run(name: str, node: str | None = "n1", revision: str = "v2", **fields: object) -> Observed:
    fields.setdefault("ready_since", 0.0)
    return Observed(name, revision, "running", node, **fields)  # type: ignore[arg-type]


def replica(
    name: str, phase: str, node: str | None = "n1", revision: str = "v2", **fields: object
) -> Observed:
    return Observed(name, revision, phase, node, **fields)  # type: ignore[arg-type]


CASES: list[tuple[str, Target | None, list[Observed], dict[str, object]]] = [
    # (id, target, replicas, the Actions fields expected to differ from "nothing to do")
    ("steady", Target(2, "v2"), [run("a"), run("b")], {}),
    ("create what is missing", Target(3, "v2"), [run("a")], {"create": 2}),
    (
        "gone replicas are forgotten and replaced",
        Target(2, "v2"),
        [run("a"), replica("b", "lost"), replica("c", "stopped")],
        {"forget": ("b", "c"), "create": 1},
    ),
    (
        "an unplaced replica to stop is forgotten; a placed one is stopped",
        Target(1, "v2"),
        [run("a"), replica("b", "pending", None), replica("c", "scheduled")],
        {"forget": ("b",), "stop": ("c",)},
    ),
    (
        "an exited replica restarts once its back-off passed",
        Target(3, "v2"),
        [
            replica("a", "exited", restart_at=NOW),
            replica("b", "exited", restart_at=NOW + 1),
            run("c"),
        ],
        {"restart": ("a",)},
    ),
    (
        "an exited replica is not replaced: it restarts in place",
        Target(2, "v2"),
        [replica("a", "exited", restart_at=NOW + 5), run("b")],
        {},
    ),
    (
        "requests with no news are asked again",
        Target(4, "v2"),
        [
            replica("a", "pending", None, requested_at=NOW - TIMEOUT),
            replica("b", "pending", None, requested_at=NOW - TIMEOUT + 1),
            replica("c", "scheduled", requested_at=NOW - 100),
            replica("d", "exited", requested_at=NOW - 100),  # its restart was asked for
        ],
        {"request_again": ("a", "c", "d")},
    ),
    (
        "unschedulable replicas are the scheduler's to retry, for five minutes",
        Target(2, "v2"),
        [
            replica("a", "unschedulable", None, requested_at=NOW - UNSCHEDULABLE_RETRY_SECONDS + 1),
            replica("b", "unschedulable", None, requested_at=NOW - UNSCHEDULABLE_RETRY_SECONDS),
        ],
        {"request_again": ("b",)},
    ),
    (
        "a stop with no news is asked again",
        Target(1, "v2"),
        [
            run("a"),
            replica("b", "stopping", requested_at=NOW - TIMEOUT),
            replica("c", "stopping", requested_at=NOW - 1),
        ],
        {"stop_again": ("b",)},
    ),
    (
        "a rollout: 4 at 25% creates 1 new and stops 1 old, and waits on replicas",
        Target(4, "v2"),
        [run(f"o{n}", revision="v1") for n in range(4)],
        {"create": 1, "stop": ("o0",), "blocked": True},
    ),
    (
        "new replicas beyond the surge room wait",
        Target(4, "v2", 1, 0),
        [run(f"o{n}", revision="v1") for n in range(4)],
        {"create": 1, "blocked": True},
    ),
    (
        "old replicas left to stop wait",
        Target(1, "v2", 1, 0),
        [replica("a", "pending", None, requested_at=NOW), run("o", revision="v1")],
        {"blocked": True},
    ),
    (
        "creating everything at once does not wait",
        Target(3, "v2"),
        [replica("a", "pending", None, requested_at=NOW)],
        {"create": 2},
    ),
    (
        "deleting: everything stops, the unplaced and the gone are forgotten",
        None,
        [
            run("a"),
            replica("b", "pending", None),
            replica("c", "exited"),
            replica("d", "lost"),
            replica("e", "stopping", requested_at=NOW),
        ],
        {"stop": ("a", "c"), "forget": ("d", "b")},
    ),
    (
        "deleting: a stop with no news is asked again",
        None,
        [replica("a", "stopping", requested_at=NOW - TIMEOUT)],
        {"stop_again": ("a",)},
    ),
]


@pytest.mark.parametrize(
    ("target", "replicas", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_reconcile(
    target: Target | None, replicas: list[Observed], expected: dict[str, object]
) -> None:
    actions = reconcile(target, replicas, now=NOW, progress_at=NOW, request_timeout=TIMEOUT)

    fields = ("create", "restart", "request_again", "stop", "stop_again", "forget", "blocked")
    got = {field: getattr(actions, field) for field in fields}
    assert got == {field: expected.get(field, getattr(Actions(), field)) for field in fields}
    assert (actions.step is None) is (target is None)


def test_reconcile_reports_the_rollout_step() -> None:
    replicas = [
        run("a", ready_since=NOW - 800),
        replica("b", "exited"),
        replica("c", "pending", None),
    ]

    actions = reconcile(
        Target(3, "v2", min_ready_seconds=10),
        replicas,
        now=NOW,
        progress_at=NOW - 700,
        request_timeout=TIMEOUT,
    )

    assert actions.step is not None
    assert (actions.step.updated, actions.step.available, actions.step.verdict) == (3, 1, "stalled")


@pytest.mark.parametrize(
    ("replicas", "stepped_at", "due"),
    [
        (100, NOW, True),  # small: always
        (101, NOW - 0.05, True),  # 40.4 ms at 101
        (101, NOW - 0.03, False),
        (10_000, NOW - 4, True),  # 0.4 ms per replica
        (10_000, NOW - 3.9, False),
    ],
)
def test_step_due(replicas: int, stepped_at: float, due: bool) -> None:
    assert step_due(replicas, stepped_at=stepped_at, now=NOW) is due


@pytest.mark.parametrize(
    ("replicas", "blocked", "stepped_at", "expected"),
    [
        (10, False, NOW, True),  # small: every event
        (10_000, False, 0.0, False),  # large and not waiting on replicas: ticks do it
        (10_000, True, NOW - 4, True),  # a rollout waiting on replicas, not too often
        (10_000, True, NOW - 1, False),
    ],
)
def test_step_on_replica_event(
    replicas: int, blocked: bool, stepped_at: float, expected: bool
) -> None:
    assert (
        step_on_replica_event(replicas, blocked=blocked, stepped_at=stepped_at, now=NOW) is expected
    )


@pytest.mark.parametrize(
    ("deployments", "expected"),
    [
        ([], []),
        ([("b", 3, NOW), ("a", 3, NOW - 1)], ["a", "b"]),  # least recently reconciled first
        ([("big", 10_000, NOW - 5), ("small", 1, NOW)], ["big", "small"]),
        ([("big", 10_000, NOW - 1)], []),  # not due yet
        ([("x", TICK_BUDGET_REPLICAS, 0.0), ("y", 1, 1.0)], ["x"]),  # the budget is spent
        ([("huge", 5 * TICK_BUDGET_REPLICAS, 0.0)], ["huge"]),  # always at least one
        ([(f"d{n}", 0, float(n)) for n in range(3)], ["d0", "d1", "d2"]),  # empty ones count 1
    ],
)
def test_due_on_tick(deployments: list[tuple[str, int, float]], expected: list[str]) -> None:
    assert due_on_tick(deployments, now=NOW) == expected


@pytest.mark.parametrize(
    ("replicas", "expected"),
    [
        (0, 30.0),
        (3, 30.0),  # small deployments: the base
        (600, 30.0),  # 600 x 50 ms: where the share per replica takes over
        (1_000, 50.0),
        (10_000, 500.0),  # the slowest start rate measured locally: 20 replicas/s
    ],
)
def test_request_timeout_grows_with_the_deployment(replicas: int, expected: float) -> None:
    assert request_timeout(TIMEOUT, replicas) == pytest.approx(expected)
