from __future__ import annotations

import random
from dataclasses import replace

import pytest

from shoal.orchestration.quantity import Percent
from shoal.orchestration.rollout import (
    Fenceposts,
    Observation,
    Replica,
    Step,
    Target,
    fencepost_violations,
    fenceposts_hold,
    plan_step,
    resolve_fenceposts,
    restart_delay,
)
from shoal.orchestration.spec import parse_deployment, template_hash

NOW = 1000.0


def fleet(
    revision: str,
    count: int,
    *,
    phase: str = "running",
    ready_since: float | None = 0.0,
    first: int = 0,
) -> list[Replica]:
    """`count` replicas named <revision>-<n>, all alike."""
    return [
        Replica(f"{revision}-{n}", revision, phase, ready_since)  # type: ignore[arg-type]
        for n in range(first, first + count)
    ]


@pytest.mark.parametrize(
    ("replicas", "max_surge", "max_unavailable", "expected"),
    [
        # Deployment docs, proportional scaling: 10 replicas, maxSurge=3, maxUnavailable=2
        (10, Percent(25), Percent(25), Fenceposts(3, 2)),  # 2.5 rounds up to 3, down to 2
        (10, Percent(30), Percent(30), Fenceposts(3, 3)),  # the docs' 30% -> 130% and 70%
        (3, Percent(25), Percent(25), Fenceposts(1, 0)),  # the nginx example's 3 replicas
        (4, Percent(25), Percent(25), Fenceposts(1, 1)),
        (1, Percent(25), Percent(25), Fenceposts(1, 0)),
        (100, Percent(10), Percent(10), Fenceposts(10, 10)),
        (7, Percent(1), Percent(1), Fenceposts(1, 0)),
        (3, Percent(50), Percent(50), Fenceposts(2, 1)),
        (10, Percent(150), Percent(100), Fenceposts(15, 10)),
        (10, 5, 2, Fenceposts(5, 2)),
        (10, 0, 1, Fenceposts(0, 1)),
        (10, 1, 0, Fenceposts(1, 0)),
        (10, 20, 20, Fenceposts(20, 20)),  # absolute numbers are taken as written
        # both 0 would never replace anything: maxUnavailable becomes 1
        (10, 0, 0, Fenceposts(0, 1)),
        (10, Percent(0), Percent(0), Fenceposts(0, 1)),
        (1, 0, Percent(25), Fenceposts(0, 1)),  # 25% of 1 rounds down to 0
        (0, Percent(25), Percent(25), Fenceposts(0, 1)),
        (0, 2, 0, Fenceposts(2, 0)),
    ],
)
def test_resolve_fenceposts(
    replicas: int,
    max_surge: int | Percent,
    max_unavailable: int | Percent,
    expected: Fenceposts,
) -> None:
    assert resolve_fenceposts(replicas, max_surge, max_unavailable) == expected


STEP_CASES = [
    # (id, target, replicas, now, progress_at, create, stop, verdict)
    ("fresh deployment", Target(3, "v2"), [], NOW, NOW, 3, (), "progressing"),
    ("complete", Target(3, "v2"), fleet("v2", 3), NOW, 0.0, 0, (), "complete"),
    ("nothing wanted", Target(0, "v2"), [], NOW, 0.0, 0, (), "complete"),
    ("scale up", Target(5, "v2"), fleet("v2", 3), NOW, NOW, 2, (), "progressing"),
    (
        "scale down stops the least established first",
        Target(2, "v2"),
        [
            Replica("a", "v2", "running", 10.0),
            Replica("b", "v2", "running", 500.0),
            Replica("c", "v2", "running", None),
            Replica("d", "v2", "pending"),
            Replica("e", "v2", "running", 10.0),
        ],
        NOW,
        NOW,
        0,
        ("d", "c", "b"),
        "progressing",
    ),
    (
        "rollout starts: 10 replicas, 25% -> create 3 and stop 2",
        Target(10, "v2"),
        fleet("v1", 10),
        NOW,
        NOW,
        3,
        ("v1-0", "v1-1"),
        "progressing",
    ),
    (
        "docs' stuck rollout, while 2 old are stopping: no surge room left",
        Target(10, "v2", 3, 2),
        fleet("v1", 8)
        + fleet("v1", 2, phase="stopping", first=8)
        + fleet("v2", 3, ready_since=None),
        NOW,
        NOW,
        0,
        (),
        "progressing",
    ),
    (
        "docs' stuck rollout, once they are gone: 2 more new, nothing to stop",
        Target(10, "v2", 3, 2),
        fleet("v1", 8) + fleet("v2", 3, ready_since=None),
        NOW,
        NOW,
        2,
        (),
        "progressing",
    ),
    (
        "docs' stuck rollout settles at 5 new and 8 old",
        Target(10, "v2", 3, 2),
        fleet("v1", 8) + fleet("v2", 5, ready_since=None),
        NOW,
        NOW,
        0,
        (),
        "progressing",
    ),
    (
        "3 replicas at 25%: surge 1, unavailable 0, so no old stops before a new one is up",
        Target(3, "v2"),
        fleet("v1", 3),
        NOW,
        NOW,
        1,
        (),
        "progressing",
    ),
    (
        "3 replicas at 25%: the new one is available, so one old goes",
        Target(3, "v2"),
        fleet("v1", 3) + fleet("v2", 1),
        NOW,
        NOW,
        0,
        ("v1-0",),
        "progressing",
    ),
    (
        "a replica being stopped still counts towards the surge",
        Target(3, "v2"),
        fleet("v1", 2, first=1) + fleet("v1", 1, phase="stopping") + fleet("v2", 1),
        NOW,
        NOW,
        0,
        (),
        "progressing",
    ),
    (
        "3 replicas at 25%: once the stop is done, the next new one",
        Target(3, "v2"),
        fleet("v1", 2, first=1) + fleet("v2", 1),
        NOW,
        NOW,
        1,
        (),
        "progressing",
    ),
    (
        "unavailable old replicas are stopped before available ones",
        Target(4, "v2", 1, 1),
        fleet("v1", 2) + fleet("v1", 2, ready_since=None, first=2),
        NOW,
        NOW,
        1,
        ("v1-2",),
        "progressing",
    ),
    (
        "maxSurge 0: stop one old first",
        Target(4, "v2", 0, 1),
        fleet("v1", 4),
        NOW,
        NOW,
        0,
        ("v1-0",),
        "progressing",
    ),
    (
        "maxSurge 0: the stopped one makes room for one new",
        Target(4, "v2", 0, 1),
        fleet("v1", 3, first=1),
        NOW,
        NOW,
        1,
        (),
        "progressing",
    ),
    (
        "several old revisions drain together",
        Target(4, "v3", 2, 2),
        fleet("v1", 2) + fleet("v2", 2),
        NOW,
        NOW,
        2,
        ("v1-0", "v1-1"),
        "progressing",
    ),
    (
        "scaled to zero mid-rollout: everything stops",
        Target(0, "v2"),
        fleet("v1", 2) + fleet("v2", 1, phase="pending"),
        NOW,
        NOW,
        0,
        ("v2-0", "v1-0", "v1-1"),
        "progressing",
    ),
    (
        "scaled down mid-rollout: excess new and one old",
        Target(2, "v2"),
        fleet("v2", 3) + fleet("v1", 1),
        NOW,
        NOW,
        0,
        ("v2-0", "v1-0"),
        "progressing",
    ),
    (
        "not complete while an old replica is still stopping",
        Target(2, "v2"),
        fleet("v2", 2) + fleet("v1", 1, phase="stopping"),
        NOW,
        NOW - 10,
        0,
        (),
        "progressing",
    ),
    (
        "ready but not for minReadySeconds: not available, nothing to stop",
        Target(3, "v2", 1, 0, min_ready_seconds=10),
        fleet("v1", 3) + fleet("v2", 1, ready_since=NOW - 5),
        NOW,
        NOW,
        0,
        (),
        "progressing",
    ),
    (
        "ready for minReadySeconds: available, one old goes",
        Target(3, "v2", 1, 0, min_ready_seconds=10),
        fleet("v1", 3) + fleet("v2", 1, ready_since=NOW - 10),
        NOW,
        NOW,
        0,
        ("v1-0",),
        "progressing",
    ),
    (
        "no progress for longer than the deadline: stalled",
        Target(3, "v2", progress_deadline_seconds=600),
        fleet("v1", 3) + fleet("v2", 1, phase="pending"),
        NOW,
        NOW - 601,
        0,
        (),
        "stalled",
    ),
    (
        "exactly at the deadline: still progressing",
        Target(3, "v2", progress_deadline_seconds=600),
        fleet("v1", 3) + fleet("v2", 1, phase="pending"),
        NOW,
        NOW - 600,
        0,
        (),
        "progressing",
    ),
    (
        "a new replica becoming ready is progress",
        Target(1, "v2", 1, 0, min_ready_seconds=30, progress_deadline_seconds=600),
        fleet("v1", 1) + fleet("v2", 1, ready_since=NOW - 20),
        NOW,
        NOW - 700,
        0,
        (),
        "progressing",
    ),
    (
        "an old replica becoming ready is not progress",
        Target(1, "v2", 1, 0, progress_deadline_seconds=600),
        fleet("v1", 1, ready_since=NOW - 5) + fleet("v2", 1, phase="pending"),
        NOW,
        NOW - 700,
        0,
        (),
        "stalled",
    ),
    (
        "a stalled rollout still acts when it can",
        Target(3, "v2", progress_deadline_seconds=600),
        fleet("v1", 3) + fleet("v2", 1),
        NOW,
        NOW - 900,
        0,
        ("v1-0",),
        "progressing",
    ),
]


@pytest.mark.parametrize(
    ("target", "replicas", "now", "progress_at", "create", "stop", "verdict"),
    [case[1:] for case in STEP_CASES],
    ids=[case[0] for case in STEP_CASES],
)
def test_plan_step(
    *,
    target: Target,
    replicas: list[Replica],
    now: float,
    progress_at: float,
    create: int,
    stop: tuple[str, ...],
    verdict: str,
) -> None:
    step = plan_step(target, replicas, now=now, progress_at=progress_at)
    assert (step.create, step.stop, step.verdict) == (create, stop, verdict)


STOPPING = fleet("v1", 1, phase="stopping")  # keeps a rollout from completing


@pytest.mark.parametrize(
    ("replicas", "progress_at", "expected"),
    [
        (STOPPING, 5.0, NOW),  # it acts (creates): progress now
        (fleet("v2", 2), 5.0, NOW),  # complete: the clock restarts now
        (STOPPING + fleet("v2", 2, phase="pending"), 5.0, 5.0),  # waiting: unchanged
        (STOPPING + fleet("v2", 2, ready_since=NOW - 50), 5.0, NOW - 40),  # available at +10
        (STOPPING + fleet("v2", 2, ready_since=NOW - 5), 5.0, NOW - 5),  # ready, not available
        (STOPPING + fleet("v2", 2, ready_since=NOW - 50), NOW - 1, NOW - 1),  # never goes back
    ],
)
def test_progress_at(replicas: list[Replica], progress_at: float, expected: float) -> None:
    target = Target(2, "v2", 0, 1, min_ready_seconds=10)
    step = plan_step(target, replicas, now=NOW, progress_at=progress_at)
    assert step.progress_at == expected


def test_status_counts() -> None:
    replicas = fleet("v1", 2) + fleet("v2", 2, ready_since=None, first=0)
    step = plan_step(Target(3, "v2", 1, 1), replicas, now=NOW, progress_at=NOW)
    assert (step.updated, step.available) == (2, 2)


def test_target_of_a_deployment() -> None:
    deployment = parse_deployment(
        {
            "apiVersion": "shoal.dev/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 4,
                "image": "web:v1",
                "strategy": {"maxSurge": 2, "maxUnavailable": "50%"},
                "minReadySeconds": 5,
                "progressDeadlineSeconds": 60,
            },
        }
    )
    assert Target.of(deployment) == Target(4, template_hash(deployment), 2, Percent(50), 5, 60)


@pytest.mark.parametrize(
    ("restarts", "delay"),
    [
        (0, 10.0),
        (1, 20.0),
        (2, 40.0),
        (3, 80.0),
        (4, 160.0),
        (5, 300.0),
        (6, 300.0),
        (100, 300.0),
        (10**9, 300.0),
    ],
)
def test_restart_delay_doubles_from_10s_capped_at_300s(restarts: int, delay: float) -> None:
    assert restart_delay(restarts) == delay


def test_restart_delay_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="restart_count must be 0 or more"):
        restart_delay(-1)


def _observe(now: float, *groups: list[Replica]) -> Observation:
    return Observation(now, tuple(replica for group in groups for replica in group))


@pytest.mark.parametrize(
    ("history", "min_ready_seconds", "violations"),
    [
        ([], 0, []),
        ([_observe(0, fleet("v1", 4))], 0, []),
        (  # starting up: below the floor is fine until it is first reached
            [
                _observe(0, []),
                _observe(1, fleet("v1", 4, ready_since=None)),
                _observe(2, fleet("v1", 4)),
            ],
            0,
            [],
        ),
        (  # a good rollout: 4 replicas, surge 1, unavailable 1
            [
                _observe(0, fleet("v1", 4)),
                _observe(
                    1,
                    fleet("v1", 3),
                    fleet("v1", 1, phase="stopping", first=3),
                    fleet("v2", 1, phase="pending"),
                ),
                _observe(2, fleet("v1", 3), fleet("v2", 2, ready_since=None)),
                _observe(3, fleet("v1", 3), fleet("v2", 2)),
            ],
            0,
            [],
        ),
        (
            [
                _observe(0, fleet("v1", 4)),
                _observe(1, fleet("v1", 4), fleet("v2", 2, phase="pending")),
            ],
            0,
            ["#1 at 1: 6 replicas > ceiling 5"],
        ),
        (  # a stopping replica still counts
            [
                _observe(
                    0, fleet("v1", 4), fleet("v1", 1, phase="stopping", first=4), fleet("v2", 1)
                )
            ],
            0,
            ["#0 at 0: 6 replicas > ceiling 5"],
        ),
        (
            [
                _observe(0, fleet("v1", 4)),
                _observe(1, fleet("v1", 2), fleet("v2", 2, phase="pending")),
            ],
            0,
            ["#1 at 1: 2 available < floor 3"],
        ),
        (
            [
                _observe(0, fleet("v1", 4, ready_since=-9.0)),
                _observe(5, fleet("v1", 2, ready_since=-9.0), fleet("v2", 1, ready_since=0.0)),
            ],
            5,
            [],
        ),
        (  # ready, but not for minReadySeconds yet: not available
            [
                _observe(0, fleet("v1", 4, ready_since=-9.0)),
                _observe(5, fleet("v1", 2, ready_since=-9.0), fleet("v2", 2, ready_since=1.0)),
            ],
            5,
            ["#1 at 5: 2 available < floor 3"],
        ),
        (
            [_observe(0, fleet("v1", 6)), _observe(1, fleet("v1", 1))],
            0,
            ["#0 at 0: 6 replicas > ceiling 5", "#1 at 1: 1 available < floor 3"],
        ),
    ],
)
def test_fencepost_checker(
    history: list[Observation], min_ready_seconds: float, violations: list[str]
) -> None:
    found = fencepost_violations(history, 4, 1, 1, min_ready_seconds=min_ready_seconds)
    assert found == violations
    assert fenceposts_hold(history, 4, 1, 1, min_ready_seconds=min_ready_seconds) == (
        not violations
    )


def test_fencepost_checker_resolves_percentages() -> None:
    history = [_observe(0, fleet("v1", 10)), _observe(1, fleet("v1", 8), fleet("v2", 5))]
    assert fenceposts_hold(history, 10, Percent(25), Percent(25))  # ceiling 13, floor 8
    assert not fenceposts_hold(history, 10, Percent(20), Percent(20))  # ceiling 12


class World:
    """A deterministic stand-in for agents and nodes: replicas start, become ready and stop
    after random delays, and nothing fails. It applies each step like the deployments
    function would."""

    def __init__(self, rng: random.Random, replicas: list[Replica]) -> None:
        self.rng = rng
        self.replicas = {replica.name: replica for replica in replicas}
        self.created = 0

    def apply(self, step: Step, revision: str) -> None:
        for name in step.stop:
            assert self.replicas[name].phase != "stopping", f"{name} stopped twice"
            self.replicas[name] = replace(self.replicas[name], phase="stopping")
        for _ in range(step.create):
            self.created += 1
            name = f"{revision}-new-{self.created}"
            self.replicas[name] = Replica(name, revision, "pending")

    def advance(self, now: float) -> None:
        for name, replica in list(self.replicas.items()):
            if self.rng.random() > 0.4:
                continue
            if replica.phase == "stopping":
                del self.replicas[name]
            elif replica.phase == "pending":
                self.replicas[name] = replace(replica, phase="running")
            elif replica.ready_since is None:
                self.replicas[name] = replace(replica, ready_since=now)

    def observe(self, now: float) -> Observation:
        return Observation(now, tuple(self.replicas.values()))


BOUNDS: list[int | Percent] = [
    0,
    1,
    2,
    3,
    Percent(0),
    Percent(10),
    Percent(25),
    Percent(50),
    Percent(100),
]


def _random_bound(rng: random.Random) -> int | Percent:
    return rng.choice(BOUNDS)


@pytest.mark.parametrize("seed", range(300))
def test_random_rollouts_keep_the_fenceposts_and_finish(seed: int) -> None:
    rng = random.Random(seed)
    old_count = rng.randint(0, 12)
    desired = rng.choice(
        [old_count, rng.randint(0, 12)]
    )  # often a pure rollout, sometimes rescaled
    surge, unavailable = _random_bound(rng), _random_bound(rng)
    if surge in (0, Percent(0)) and unavailable in (0, Percent(0)):
        surge = 1  # the spec validator rejects both 0
    min_ready = rng.choice([0.0, 0.0, 2.0, 5.0])
    target = Target(desired, "v2", surge, unavailable, min_ready, progress_deadline_seconds=600)
    # Most old replicas are available; some are still starting, which the rollout must stop
    # before any available one.
    old = [
        Replica(f"v1-{n}", "v1", *rng.choice([("running", -100.0)] * 4 + [("running", None)]))
        for n in range(old_count)
    ]
    world = World(rng, old)
    now = progress_at = 0.0
    history = [world.observe(now)]

    for _ in range(1000):
        step = plan_step(target, list(world.replicas.values()), now=now, progress_at=progress_at)
        assert step.verdict != "stalled"
        if step.verdict == "complete":
            break
        progress_at = step.progress_at
        world.apply(step, "v2")
        history.append(world.observe(now))
        now += rng.uniform(0.1, 3.0)
        world.advance(now)
        history.append(world.observe(now))
    else:
        pytest.fail(f"rollout did not finish: {sorted(world.replicas)}")

    if desired == old_count:  # the fenceposts are a promise about rolling, not rescaling
        violations = fencepost_violations(
            history, desired, surge, unavailable, min_ready_seconds=min_ready
        )
        assert not violations, violations
    final = list(world.replicas.values())
    assert len(final) == desired
    assert all(r.revision == "v2" and r.available(now, min_ready) for r in final)


@pytest.mark.parametrize("seed", range(20))
def test_a_rollout_whose_replicas_never_get_ready_stalls_safely(seed: int) -> None:
    rng = random.Random(seed)
    target = Target(8, "v2", _random_bound(rng), 2, progress_deadline_seconds=60)
    world = World(rng, fleet("v1", 8, ready_since=-100.0))
    now = progress_at = 0.0
    verdicts = []
    history = [world.observe(now)]
    for _ in range(100):
        step = plan_step(target, list(world.replicas.values()), now=now, progress_at=progress_at)
        verdicts.append(step.verdict)
        progress_at = step.progress_at
        world.apply(step, "v2")
        now += 5.0
        world.advance(now)  # stops finish and new replicas start, but...
        world.replicas = {
            name: replace(r, ready_since=None) if r.revision == "v2" else r
            for name, r in world.replicas.items()
        }  # ...the new revision never becomes ready
        history.append(world.observe(now))

    assert verdicts[-1] == "stalled"
    assert fenceposts_hold(history, 8, target.max_surge, 2)
    assert sum(r.revision == "v1" for r in world.replicas.values()) == 6  # the floor holds
