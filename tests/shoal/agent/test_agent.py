"""The agent's core with the sim driver, a real store and a list as its event sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from shoal import events
from shoal.agent.agent import Agent
from shoal.agent.driver import Usage
from shoal.agent.errors import InvalidEvent
from shoal.agent.reconcile import Assignment, State
from shoal.agent.reports import JsonEvent
from shoal.agent.sim import EXIT_AFTER_ENV, SimDriver, SimSettings
from shoal.agent.spec import ReplicaSpec
from shoal.agent.store import AssignmentStore
from shoal.orchestration.spec import Resources
from tests.shoal.agent.support import (
    agent_running,
    replica,
    scheduled_data,
    shoal_event,
    stop_data,
    unstamped,
    wait_until,
)

NODES = ("n1", "n2")


class ListSink:
    def __init__(self) -> None:
        self.sent: list[JsonEvent] = []

    def send(self, event: JsonEvent, *, supersedes: str | None = None) -> None:
        self.sent.append(event)

    def reports(self, *types: str) -> list[tuple[object, object]]:
        """(type, replica) of each replica a report of these types lists, (type, node) of each
        other event (all but heartbeats by default)."""
        wanted = types or (
            events.NODE_JOINED,
            events.REPLICA_STARTED,
            events.REPLICA_EXITED,
            events.REPLICA_STOPPED,
        )
        return [
            (e["type"], entry["replica"] if e["type"] in REPORTS else e["subject"])
            for e in self.sent
            if e["type"] in wanted
            for entry in cast(
                list[Any], cast(Any, e["data"])["replicas"] if e["type"] in REPORTS else [None]
            )
        ]

    def data(self, type_: str) -> list[object]:
        """The data of each event of `type_`; for replica reports, each replica they list."""
        found: list[object] = []
        for event in self.sent:
            if event["type"] == type_:
                data = event["data"]
                listed = (
                    data.get("replicas") if type_ in REPORTS and isinstance(data, dict) else None
                )
                found += listed if isinstance(listed, list) else [data]
        return found


STARTED, STOPPED, EXITED = events.REPLICA_STARTED, events.REPLICA_STOPPED, events.REPLICA_EXITED
REPORTS = (STARTED, STOPPED, EXITED)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AssignmentStore]:
    opened = AssignmentStore(tmp_path / "assignments.sqlite3")
    yield opened
    opened.close()


@asynccontextmanager
async def agent_with(
    store: AssignmentStore, driver: SimDriver | None = None
) -> AsyncIterator[tuple[Agent, ListSink]]:
    sink = ListSink()
    agent = Agent(
        nodes=NODES,
        capacity=Resources(4000, 8192),
        labels={"zone": "a"},
        driver=driver or SimDriver(),
        store=store,
        sink=sink,
    )
    async with agent_running(agent):
        yield agent, sink


async def schedule(agent: Agent, spec: ReplicaSpec, event_id: str = "e1") -> None:
    await agent.receive(shoal_event(events.REPLICA_SCHEDULED, scheduled_data(spec), event_id))


async def stop(agent: Agent, spec: ReplicaSpec) -> None:
    await agent.receive(shoal_event(events.REPLICA_STOP_REQUESTED, stop_data(spec)))


async def running_names(agent: Agent) -> list[str]:
    return sorted(status.spec.name for status in await agent.driver.list())


async def test_it_joins_every_node_first(store: AssignmentStore) -> None:
    async with agent_with(store) as (_agent, sink):
        assert sink.data(events.NODE_JOINED) == [
            {
                "node": node,
                "capacity": {"cpu_millis": 4000, "memory_mib": 8192},
                "labels": {"zone": "a"},
                "replicas": [],
            }
            for node in NODES
        ]


async def test_a_scheduled_replica_starts_and_is_reported(store: AssignmentStore) -> None:
    async with agent_with(store) as (agent, sink):
        await schedule(agent, replica("web-1", node="n2"))
        await agent.drain(5)
        assert await running_names(agent) == ["web-1"]
        started = unstamped(sink.data(STARTED))
        assert started == [{"deployment": "web", "replica": "web-1", "node": "n2"}]
        assert store.load(NODES)["web-1"].state is State.RUN


async def test_scheduling_a_running_replica_again_only_reports_it(store: AssignmentStore) -> None:
    async with agent_with(store) as (agent, sink):
        for event_id in ("e1", "e1", "e2"):
            await schedule(agent, replica(), event_id)
        await agent.drain(5)
        assert await running_names(agent) == ["web-1"]
        assert sink.reports(STARTED) == [(STARTED, "web-1")] * 3


async def test_a_stopped_replica_is_reported_and_never_starts_again(
    store: AssignmentStore,
) -> None:
    async with agent_with(store) as (agent, sink):
        await schedule(agent, replica())
        await agent.drain(5)
        await stop(agent, replica())
        await schedule(agent, replica(), "e2")
        await agent.drain(5)
        assert await running_names(agent) == []
        assert sink.reports(STARTED, STOPPED) == [
            (STARTED, "web-1"),
            (STOPPED, "web-1"),
            (STOPPED, "web-1"),
        ]


async def test_a_stop_that_overtakes_its_scheduling_wins(store: AssignmentStore) -> None:
    async with agent_with(store) as (agent, sink):
        await stop(agent, replica())
        await schedule(agent, replica())
        await agent.drain(5)
        assert await running_names(agent) == []
        assert sink.reports(STARTED, STOPPED) == [(STOPPED, "web-1"), (STOPPED, "web-1")]


async def test_an_exit_is_reported_and_a_new_scheduling_restarts_it(
    store: AssignmentStore,
) -> None:
    crashing = replica(env={EXIT_AFTER_ENV: "0"})
    async with agent_with(store) as (agent, sink):
        await schedule(agent, crashing, "e1")
        await wait_until(lambda: len(sink.data(EXITED)) == 1, what="the exit report")
        assert unstamped(sink.data(EXITED)) == [
            {
                "deployment": "web",
                "replica": "web-1",
                "node": "n1",
                "exit_code": 1,
                "reason": f"{EXIT_AFTER_ENV} asked it to exit after 0.0 s",
            }
        ]
        assert await running_names(agent) == []
        await schedule(agent, crashing, "e1")  # a redelivery: reported again, not restarted
        await agent.drain(5)
        assert sink.reports(STARTED, EXITED)[-1] == (EXITED, "web-1")
        await schedule(agent, replica(), "e2")  # a new scheduling: restarted in place
        await agent.drain(5)
        assert await running_names(agent) == ["web-1"]
        assert sink.reports(STARTED, EXITED) == [
            (STARTED, "web-1"),
            (EXITED, "web-1"),
            (EXITED, "web-1"),
            (STARTED, "web-1"),
        ]


async def test_a_replica_that_cannot_start_is_reported_as_exited(store: AssignmentStore) -> None:
    async with agent_with(store) as (agent, sink):
        await schedule(agent, replica(env={EXIT_AFTER_ENV: "later"}))
        await agent.drain(5)
        [exited] = sink.data(EXITED)
        assert isinstance(exited, dict)
        assert exited["exit_code"] == 128
        assert str(exited["reason"]).startswith("cannot start: ")
        assert store.load(NODES)["web-1"].state is State.EXITED


async def test_a_stop_of_an_unknown_replica_reports_stopped(store: AssignmentStore) -> None:
    async with agent_with(store) as (agent, sink):
        await stop(agent, replica("ghost-1", node="n2"))
        await agent.drain(5)
        assert sink.data(STOPPED) == [{"deployment": "web", "replica": "ghost-1", "node": "n2"}]


@pytest.mark.parametrize(
    ("type_", "data", "message"),
    [
        (events.REPLICA_SCHEDULED, scheduled_data(replica(node="n3")), "node 'n3' is not run by"),
        (events.REPLICA_STOP_REQUESTED, stop_data(replica(node="n3")), "node 'n3' is not run"),
        (events.REPLICA_SCHEDULED, {"replicas": [{"replica": "web-1"}]}, "data.deployment"),
        (events.REPLICA_SCHEDULED, {"replica": "web-1"}, "data.replicas must be"),
        (events.NODE_HEARTBEAT, {}, "the agent takes"),
    ],
)
async def test_events_it_cannot_act_on_are_refused(
    store: AssignmentStore, type_: str, data: object, message: str
) -> None:
    async with agent_with(store) as (agent, _sink):
        with pytest.raises(InvalidEvent, match=message):
            await agent.receive(shoal_event(type_, data))
        assert store.load(NODES) == {}


async def test_a_restart_reconciles_without_duplicates(store: AssignmentStore) -> None:
    """Told to run a and b; the driver runs b and an extra c (it outlived a crash)."""
    for name in ("a", "b"):
        spec = replica(name, node="n1")
        store.save_all([Assignment(name, "n1", "web", State.RUN, spec, "e1", None, 1.0)])
    driver = SimDriver()
    await driver.start(replica("b", node="n1"))
    await driver.start(replica("c", node="n2"))
    async with agent_with(store, driver) as (agent, sink):
        assert await running_names(agent) == ["a", "b"]
        joined = sink.data(events.NODE_JOINED)
        assert [j["replicas"] for j in joined] == [  # type: ignore[index]
            [{"deployment": "web", "replica": "b"}, {"deployment": "web", "replica": "a"}],
            [],
        ]
        assert sink.reports()[2:] == [(STARTED, "b"), (STOPPED, "c"), (STARTED, "a")]


async def test_a_restart_reports_an_exit_that_happened_meanwhile(store: AssignmentStore) -> None:
    spec = replica(env={EXIT_AFTER_ENV: "0"})
    store.save_all([Assignment("web-1", "n1", "web", State.RUN, spec, "e1", None, 1.0)])
    driver = SimDriver()
    await driver.start(spec)
    await wait_until(lambda: driver.set_load("web", 0) == 0, what="the replica exiting")
    async with agent_with(store, driver) as (agent, sink):
        assert sink.reports()[2:] == [(EXITED, "web-1")]
        assert await running_names(agent) == []
        assert store.load(NODES)["web-1"].state is State.EXITED


async def test_heartbeats_list_each_nodes_replicas(store: AssignmentStore) -> None:
    async with agent_with(store, SimDriver(SimSettings())) as (agent, sink):
        await schedule(agent, replica("web-1", node="n1", cpu=200))
        await schedule(agent, replica("web-2", node="n1"), "e2")
        await agent.drain(5)
        agent.send_heartbeats({"web-1": Usage(100.0, 10.0)})
        (beat,) = sink.data(events.NODE_HEARTBEAT)  # one event for the agent's nodes
        beats = beat["nodes"]  # type: ignore[index]
        assert [(b["node"], len(b["replicas"])) for b in beats] == [("n1", 2), ("n2", 0)]
        assert beats[0]["allocated"] == {"cpu_millis": 300, "memory_mib": 128}
        assert beats[0]["usage"] == {"cpu_millis": 100, "memory_mib": 10}


async def test_prune_forgets_old_records(store: AssignmentStore) -> None:
    async with agent_with(store) as (agent, sink):
        await stop(agent, replica())
        await agent.drain(5)
        agent.prune(before=float("inf"))
        assert store.load(NODES) == {}
        await schedule(agent, replica())  # forgotten: a scheduling after the retention starts it
        await agent.drain(5)
        assert sink.reports(STARTED) == [(STARTED, "web-1")]


async def test_a_stop_during_a_start_waits_for_it(store: AssignmentStore) -> None:
    async with agent_with(store, SimDriver(SimSettings(start_delay=0.2))) as (agent, sink):
        await schedule(agent, replica())
        await asyncio.sleep(0.05)  # the start is under way in the driver
        await stop(agent, replica())
        await agent.drain(5)
        assert await running_names(agent) == []
        assert sink.reports(STARTED, STOPPED) == [(STARTED, "web-1"), (STOPPED, "web-1")]


async def test_heartbeats_list_replicas_when_they_change_and_every_fifth_beat(
    store: AssignmentStore,
) -> None:
    async with agent_with(store, SimDriver(SimSettings())) as (agent, sink):
        await schedule(agent, replica("web-1", node="n1"))
        await agent.drain(5)
        for _beat in range(3):
            agent.send_heartbeats({})
        await schedule(agent, replica("web-2", node="n2"), "e2")
        await agent.drain(5)
        for _beat in range(3):
            agent.send_heartbeats({})

        beats = [beat["nodes"] for beat in sink.data(events.NODE_HEARTBEAT)]  # type: ignore[index]
        listed = [[("replicas" in status) for status in beat] for beat in beats]
        assert listed == [
            [True, True],  # the first: everything
            [False, False],
            [False, False],
            [False, True],  # n2's replicas changed
            [False, False],
            [True, True],  # the fifth after the first
        ]


async def test_nodes_the_agent_before_ran_and_this_one_does_not_are_removed(
    store: AssignmentStore,
) -> None:
    store.record_nodes(["n1", "n2", "n3", "n4"])  # an earlier agent here ran four nodes
    driver = SimDriver()
    await driver.start(replica("orphan", node="n3"))  # one of them still runs a replica

    async with agent_with(store, driver) as (agent, sink):
        assert sink.data(events.NODE_REMOVED) == [
            {"node": node, "reason": "agent n1 no longer runs it"} for node in ("n3", "n4")
        ]
        first_join = next(i for i, e in enumerate(sink.sent) if e["type"] == events.NODE_JOINED)
        assert all(e["type"] == events.NODE_REMOVED for e in sink.sent[:first_join])
        assert await running_names(agent) == []  # not this agent's to run
        assert store.served_nodes() == frozenset(NODES)

    async with agent_with(store) as (_agent, sink):  # the same nodes again: nothing removed
        assert sink.data(events.NODE_REMOVED) == []
