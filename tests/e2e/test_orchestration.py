"""The orchestration through the real broker, the real function processes and sim agents.

Every check reads the broker's event log (`GET /-/events`), the one ordered record of what every
component said, with the broker's arrival times: the rolling update's fenceposts are replayed
from it (`shoal.platform.eventlog.replica_history`), not sampled. Waits are bounded and
generous (this runs on small shared machines); durations are reported, never asserted on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from shoal import events
from shoal.orchestration.quantity import Percent
from shoal.orchestration.rollout import Observation, fencepost_violations
from shoal.platform.eventlog import (
    REPLICA_LIFECYCLE,
    EventLogReader,
    LoggedEvent,
    news_of,
    replica_history,
    wait_until,
)
from shoal.platform.harness import (
    RunningAgent,
    RunningPlatform,
    post_event,
    running_agent,
    running_platform,
    set_sim_load,
)

ROOT = Path(__file__).resolve().parents[2]
SETTLE_SECONDS = 60.0
FAILOVER_BOUND_SECONDS = 20.0
"""What the test allows; the target (3 s) is the benchmark's, on an idle machine."""
TRACKED = (*REPLICA_LIFECYCLE, events.REPLICA_SCHEDULED)
LOSSES = (events.NODE_LOST, events.REPLICA_LOST)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def deployment(name: str, replicas: int, image: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "shoal.dev/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "image": image,
            "resources": {"cpu": "100m", "memory": "64Mi"},
            **spec,
        },
    }


def apply(platform: RunningPlatform, document: dict[str, object]) -> None:
    post_event(platform.ingress, events.DEPLOYMENT_APPLIED, {"manifest": document})


def current(logged: Sequence[LoggedEvent], name: str) -> Observation:
    history = replica_history(logged, name)
    return history[-1] if history else Observation(0.0, ())


def settle(
    reader: EventLogReader, name: str, replicas: int, *, revision_differs_from: str | None = None
) -> list[LoggedEvent]:
    """Wait until exactly `replicas` replicas of `name` exist and all run (of a revision other
    than `revision_differs_from`, when given); the log read so far."""

    def settled(logged: list[LoggedEvent]) -> bool:
        now = current(logged, name).replicas
        return len(now) == replicas and all(
            r.phase == "running" and r.revision != revision_differs_from for r in now
        )

    if not wait_until(reader, TRACKED, settled, timeout=SETTLE_SECONDS):
        now = current(reader.events(TRACKED), name).replicas
        pytest.fail(f"{name} did not settle at {replicas} running within {SETTLE_SECONDS} s: {now}")
    return reader.events(TRACKED)


def revision_of(logged: Sequence[LoggedEvent], name: str) -> str:
    revisions = {replica.revision for replica in current(logged, name).replicas}
    assert len(revisions) == 1, revisions
    return revisions.pop()


def nodes_of(logged: Sequence[LoggedEvent], name: str) -> dict[str, str]:
    """Replica -> node, from the scheduler's `replica.scheduled` events."""
    return {
        str(entry["replica"]): str(entry["node"])
        for event in logged
        if event.type == events.REPLICA_SCHEDULED
        for entry in news_of(event, name)
    }


@pytest.fixture
def sim_cluster(tmp_path: Path) -> Iterator[RunningPlatform]:
    """`shoal up --driver sim --nodes 3`, as a user starts a local cluster."""
    up_args = ["--driver", "sim", "--nodes", "3", "--agent-cpu", "4000", "--agent-memory", "8192"]
    with running_platform(tmp_path / "data", root=ROOT, up_args=up_args) as platform:
        yield platform


def test_up_with_three_sim_nodes_runs_a_deployment_of_ten(sim_cluster: RunningPlatform) -> None:
    reader = EventLogReader(sim_cluster.url)
    apply(sim_cluster, deployment("web", 10, "127.0.0.1:5000/web:v1"))

    logged = settle(reader, "web", 10)

    placed = nodes_of(logged, "web")
    assert set(placed.values()) == {"sim-0", "sim-1", "sim-2"}
    assert sorted(Counter(placed.values()).values()) == [3, 3, 4]  # spread
    started = [e for e in logged if e.type == events.REPLICA_STARTED]
    assert {str(entry["replica"]) for e in started for entry in news_of(e, "web")} == set(placed)


def test_a_killed_agent_s_replicas_run_elsewhere(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    with running_platform(tmp_path / "data", root=ROOT) as platform, ExitStack() as stack:
        agents: dict[str, RunningAgent] = {
            name: stack.enter_context(running_agent(platform, name)) for name in ("n1", "n2", "n3")
        }
        reader = EventLogReader(platform.url)
        apply(platform, deployment("web", 10, "127.0.0.1:5000/web:v1"))
        before = settle(reader, "web", 10)
        placed = nodes_of(before, "web")
        victim = Counter(placed.values()).most_common(1)[0][0]
        doomed = {replica for replica, node in placed.items() if node == victim}

        killed_at = agents[victim].kill()
        after = settle_without(reader, "web", doomed)

        lost = {
            str(entry["replica"])
            for e in after
            if e.type == events.REPLICA_LOST
            for entry in news_of(e, "web")
        }
        assert lost == doomed
        survivors = {r.name for r in current(after, "web").replicas}
        replacements = survivors - set(placed)
        assert len(replacements) == len(doomed)
        moved = nodes_of(after, "web")
        assert all(moved[name] != victim for name in replacements)
        last_started = max(
            e.arrival
            for e in after
            if e.type == events.REPLICA_STARTED
            for entry in news_of(e, "web")
            if entry["replica"] in replacements
        )
        failover = last_started - killed_at
        record_property("failover_seconds", round(failover, 2))
        print(f"failover of {len(doomed)} replicas: {failover:.2f} s after the SIGKILL")
        assert failover < FAILOVER_BOUND_SECONDS


def settle_without(reader: EventLogReader, name: str, doomed: set[str]) -> list[LoggedEvent]:
    """Wait until none of `doomed` exists any more and as many others run as before."""

    def replaced(logged: list[LoggedEvent]) -> bool:
        now = current(logged, name).replicas
        return (
            len(now) == 10
            and all(r.phase == "running" for r in now)
            and not any(r.name in doomed for r in now)
        )

    if not wait_until(reader, TRACKED, replaced, timeout=FAILOVER_BOUND_SECONDS + SETTLE_SECONDS):
        now = current(reader.events(TRACKED), name)
        pytest.fail(f"the replicas of the killed node were not replaced: {now}")
    return reader.events(TRACKED)


def test_a_new_image_rolls_out_within_the_fenceposts(sim_cluster: RunningPlatform) -> None:
    reader = EventLogReader(sim_cluster.url)
    strategy = {"maxSurge": "25%", "maxUnavailable": "25%"}
    apply(sim_cluster, deployment("web", 10, "127.0.0.1:5000/web:v1", strategy=strategy))
    old = revision_of(settle(reader, "web", 10), "web")

    apply(sim_cluster, deployment("web", 10, "127.0.0.1:5000/web:v2", strategy=strategy))
    logged = settle(reader, "web", 10, revision_differs_from=old)

    history = replica_history(logged, "web")
    assert fencepost_violations(history, 10, Percent(25), Percent(25)) == []
    assert max(len(observed.replicas) for observed in history) > 10  # it did surge
    images = images_of(logged, names(history[-1]))
    assert images == {"127.0.0.1:5000/web:v2"}


def images_of(logged: Sequence[LoggedEvent], replicas: set[str]) -> set[str]:
    """The images `replica.scheduled` sent for these replicas of web."""
    return {
        str(entry["image"])
        for e in logged
        if e.type == events.REPLICA_SCHEDULED
        for entry in news_of(e, "web")
        if entry["replica"] in replicas
    }


def names(observed: Observation) -> set[str]:
    return {replica.name for replica in observed.replicas}


def test_the_autoscaler_scales_up_under_synthetic_load(sim_cluster: RunningPlatform) -> None:
    reader = EventLogReader(sim_cluster.url)
    autoscale = {"minReplicas": 2, "maxReplicas": 8, "targetCPUUtilization": 50}
    apply(sim_cluster, deployment("web", 2, "127.0.0.1:5000/web:v1", autoscale=autoscale))
    settle(reader, "web", 2)

    answer = set_sim_load(sim_cluster.agent_url(), "web", 100)
    assert answer["replicas"] == 2

    def scaled(logged: list[LoggedEvent]) -> bool:
        return any(e.type == events.DEPLOYMENT_SCALED for e in logged)

    tracked = (*TRACKED, events.DEPLOYMENT_SCALED)
    # The autoscaler ticks every 15 s locally; allow several ticks.
    assert wait_until(reader, tracked, scaled, timeout=SETTLE_SECONDS), "no deployment.scaled"
    scale = next(e for e in reader.events(tracked) if e.type == events.DEPLOYMENT_SCALED)
    assert scale.data["deployment"] == "web"
    assert scale.data["replicas"] == 4  # ceil(2 x 100 % / 50 %)
    settle(reader, "web", 4)


def test_an_image_push_rolls_the_deployment_onto_the_digest(sim_cluster: RunningPlatform) -> None:
    reader = EventLogReader(sim_cluster.url)
    apply(sim_cluster, deployment("web", 4, "127.0.0.1:5000/web:v1"))
    old = revision_of(settle(reader, "web", 4), "web")
    digest = "sha256:" + "5d" * 32
    pushed = {"repository": "127.0.0.1:5000/web", "tag": "v1", "digest": digest}

    post_event(sim_cluster.ingress, events.IMAGE_PUSHED, pushed, subject="127.0.0.1:5000/web")
    logged = settle(reader, "web", 4, revision_differs_from=old)

    history = replica_history(logged, "web")
    assert fencepost_violations(history, 4, Percent(25), Percent(25)) == []
    images = images_of(logged, names(history[-1]))
    assert images == {f"127.0.0.1:5000/web@{digest}"}


def test_when_most_agents_die_their_nodes_take_nothing_new(tmp_path: Path) -> None:
    with running_platform(tmp_path / "data", root=ROOT) as platform, ExitStack() as stack:
        agents: dict[str, RunningAgent] = {
            name: stack.enter_context(running_agent(platform, name)) for name in ("n1", "n2", "n3")
        }
        reader = EventLogReader(platform.url)
        apply(platform, deployment("web", 3, "127.0.0.1:5000/web:v1"))
        placed = nodes_of(settle(reader, "web", 3), "web")
        assert sorted(placed.values()) == ["n1", "n2", "n3"]

        agents["n2"].kill()
        agents["n3"].kill()

        def both_not_ready(logged: list[LoggedEvent]) -> bool:
            return {e.subject for e in logged if e.type == events.NODE_NOT_READY} == {"n2", "n3"}

        watched = (*TRACKED, events.NODE_NOT_READY, events.NODE_LOST)
        if not wait_until(reader, watched, both_not_ready, timeout=SETTLE_SECONDS):
            pytest.fail(f"n2 and n3 were not marked not ready: {reader.events(watched)}")
        apply(platform, deployment("api", 2, "127.0.0.1:5000/api:v1"))
        logged = settle(reader, "api", 2)

        assert set(nodes_of(logged, "api").values()) == {"n1"}
        # Two of three silent: the median rule declares neither lost, so nothing is replaced.
        assert not [e for e in reader.events(watched) if e.type in LOSSES]
        assert {r.name for r in current(logged, "web").replicas} == set(placed)
