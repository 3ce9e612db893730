"""The agent's core: events and exits in, driver calls and reports out, for one or many nodes.

Each event is decided at once against the replica's assignment (`shoal.agent.reconcile`), and
the new assignment is written to the store (grouped with others) before the event is answered.
What the decision asks of the driver, and the report that follows, runs afterwards in the
background, one operation at a time per replica, in arrival order (`shoal.agent.serial`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from shoal import events
from shoal.agent.driver import Driver, ReplicaExit, Usage
from shoal.agent.errors import DriverError, InvalidEvent
from shoal.agent.heartbeats import Heartbeats
from shoal.agent.probing import Check, ReplicaProbes, check_probe
from shoal.agent.reconcile import (
    Action,
    Assignment,
    State,
    on_exit,
    on_scheduled,
    on_stop_requested,
    reconcile,
)
from shoal.agent.reports import JsonEvent, Reporter
from shoal.agent.serial import SerialOperations
from shoal.agent.spec import ReplicaSpec, parse_scheduled_event, parse_stop_requested
from shoal.agent.store import AssignmentStore, GroupedWrites
from shoal.orchestration.spec import Resources
from shoal.runtime.event import Event

__all__ = ["START_FAILED_EXIT_CODE", "Agent", "EventSink"]

log = logging.getLogger("shoal.agent")

START_FAILED_EXIT_CODE = 128
"""The exit code reported for a replica the driver could not start (as Docker's 'cannot run')."""
KILLED = 137
"""The exit code reported for a replica the agent killed because its liveness (or startup) probe
failed (128 + SIGKILL, as Docker reports a killed container; the driver stops it gracefully
first)."""


class EventSink(Protocol):
    def send(self, event: JsonEvent, *, supersedes: str | None = None) -> None: ...


class Agent:
    def __init__(
        self,
        *,
        nodes: Sequence[str],
        capacity: Resources,
        labels: Mapping[str, str],
        driver: Driver,
        store: AssignmentStore,
        sink: EventSink,
        reporter: Reporter | None = None,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        url: str | None = None,
        check: Check = check_probe,
    ) -> None:
        self.nodes = tuple(nodes)
        self.name = name or self.nodes[0]
        """The agent's name: the source of its heartbeats of several nodes."""
        self.url = url
        """Where the agent serves (its Trigger's subscriber), told in each join."""
        self._hosted = frozenset(self.nodes)
        self.capacity = capacity
        self.labels = dict(labels)
        self.driver = driver
        self._store = store
        self._writes = GroupedWrites(store)
        self._sink = sink
        self._report = reporter or Reporter(clock)
        self._clock = clock
        self._assignments = store.load(self.nodes)
        self._started: dict[str, float] = {}
        self._heartbeats = Heartbeats(self.name, self.nodes, capacity, self._report)
        self._ops = SerialOperations()
        self._probes = ReplicaProbes(
            driver, self._readiness_changed, on_dead=self._liveness_failed, check=check
        )

    async def start(self) -> None:
        """Say which nodes of the agent that ran here last this one does not run (removed),
        reconcile what the driver runs with the assignments, then send each node's join,
        listing what it runs, followed by the reports of what reconciling changed."""
        for node in sorted(self._store.served_nodes() - self._hosted):
            self._sink.send(self._report.removed(node, f"agent {self.name} no longer runs it"))
        self._store.record_nodes(self.nodes)
        should_run = [a.replica for a in self._assignments.values() if a.state is State.RUN]
        statuses = await self.driver.list()
        plan = reconcile(should_run, statuses)
        known = {status.spec.name: status for status in statuses}
        reports: list[JsonEvent] = []
        for name in plan.report_started:
            self._started[name] = known[name].started_at
            reports.append(self._report.started(known[name].spec))
        for name, code in plan.record_exit:
            reason = f"exited with code {code} while no agent watched"
            reports.append(await self._record_exit(ReplicaExit(name, code, reason)))
        for status in plan.stop:
            await self.driver.stop(status.spec.name)
            spec = status.spec
            reports.append(self._report.stopped(spec.node, spec.deployment, spec.name))
        to_start = [self._assignments[name] for name in plan.start]
        started = await asyncio.gather(*(self._start(assignment) for assignment in to_start))
        reports.extend(report for report in started if report is not None)
        by_node: dict[str, list[ReplicaSpec]] = {}
        for spec, _started_at in self.running().values():
            by_node.setdefault(spec.node, []).append(spec)
        for node in self.nodes:
            joined = self._report.joined(
                node, self.capacity, self.labels, by_node.get(node, []), agent_url=self.url
            )
            self._sink.send(joined)
        for report in reports:
            self._sink.send(report)
        # Probed once their `started` is out, so a `ready` never goes first. Those found running
        # may have been ready or not before: their first verdict either way is news.
        for name in plan.report_started:
            self._probes.watch(self._spec(name), known=False)
        for assignment, outcome in zip(to_start, started, strict=True):
            if outcome is not None and outcome["type"] == events.REPLICA_STARTED:
                self._probes.watch(self._spec(assignment.replica))
        await self._writes.written()

    async def receive(self, event: Event) -> None:
        """Decide on an event from the agent's Trigger (every replica it lists, all of them on
        nodes of this agent, or none) and return once the decisions are written;
        the driver work follows in the background. InvalidEvent when the event cannot be acted
        on; whatever the store raises when the decision cannot be written."""
        if event.type == events.REPLICA_SCHEDULED:
            specs = parse_scheduled_event(event.data)
            for spec in specs:
                self._check_node(spec.node)
            for spec in specs:
                self._scheduled(spec, event.id)
        elif event.type == events.REPLICA_STOP_REQUESTED:
            stops = parse_stop_requested(event.data)
            for stop in stops:
                self._check_node(stop["node"])
            for stop in stops:
                self._stop_requested(stop["node"], stop["deployment"], stop["replica"])
        else:
            wanted = f"{events.REPLICA_SCHEDULED} or {events.REPLICA_STOP_REQUESTED}"
            raise InvalidEvent(f"the agent takes {wanted}, not {event.type}")
        await self._writes.written()

    def running(self) -> dict[str, tuple[ReplicaSpec, float]]:
        """Every replica known to run, by name: its spec and start time."""
        return {name: (self._spec(name), started) for name, started in self._started.items()}

    def send_heartbeats(self, usage: Mapping[str, Usage]) -> None:
        """Send the next heartbeat (`shoal.agent.heartbeats`). With the one that lists every
        replica, say again how each probed one stands (coalesced into an event or two): a
        `ready` or `unready` the broker gave up delivering is made good within a few beats, as a
        lost `started` is by the reconcile's asking again."""
        sent, full = self._heartbeats.beat(self.running(), usage)
        for heartbeat, key in sent:
            self._sink.send(heartbeat, supersedes=key)
        if full:
            self._probes.repeat()

    async def watch_exits(self) -> None:
        async for exit_ in self.driver.exits():
            self._ops.queue(exit_.name, self._exit_operation(exit_))

    def _exit_operation(self, exit_: ReplicaExit) -> Callable[[], Awaitable[None]]:
        async def record_if_still_running() -> JsonEvent | None:
            # Decided when its turn comes: a stop received meanwhile makes the exit moot.
            if on_exit(self._assignments.get(exit_.name)) is Action.RECORD_EXIT:
                return await self._record_exit(exit_)
            return None

        return lambda: self._send_after(record_if_still_running())

    def prune(self, before: float) -> None:
        """Forget replicas that no longer run and last changed before `before`."""
        self._store.prune(before)
        for name, assignment in list(self._assignments.items()):
            if assignment.state is not State.RUN and assignment.updated_at < before:
                del self._assignments[name]

    async def drain(self, timeout: float) -> None:
        """Stop probing; let running operations finish, for at most `timeout` seconds, then
        cancel them; then write what is left to write."""
        await self._probes.close()
        await self._ops.drain(timeout)
        await self._writes.written()

    def _check_node(self, node: str) -> None:
        if node not in self._hosted:
            hosted = ", ".join(self.nodes[:3]) + (
                f" .. {self.nodes[-1]}" if len(self.nodes) > 3 else ""
            )
            raise InvalidEvent(
                f"node {node!r} is not run by this agent (it runs {hosted}); "
                "the agent's Trigger filter selects events of other nodes"
            )

    def _scheduled(self, spec: ReplicaSpec, event_id: str) -> None:
        current = self._assignments.get(spec.name)
        action = on_scheduled(current, event_id)
        if action is Action.START:
            assignment = self._save(
                Assignment(spec.name, spec.node, spec.deployment, State.RUN, spec, event_id)
            )
            self._ops.queue(spec.name, lambda: self._start_and_watch(assignment))
        elif action is Action.REPORT_STARTED:
            self._ops.queue(spec.name, lambda: self._send_after(self._report_started(spec.name)))
        elif current is not None:
            self._ops.queue(spec.name, lambda: self._send_after(self._report_current(current)))

    def _stop_requested(self, node: str, deployment: str, replica: str) -> None:
        current = self._assignments.get(replica)
        if on_stop_requested(current) is Action.STOP:
            known = current or Assignment(replica, node, deployment, State.STOPPED)
            self._save(replace(known, state=State.STOPPED))
            self._ops.queue(
                replica, lambda: self._send_after(self._stop(node, deployment, replica))
            )
        else:
            report = self._report.stopped(node, deployment, replica)
            self._ops.queue(replica, lambda: self._send_after(_ready(report)))

    async def _start(self, assignment: Assignment) -> JsonEvent | None:
        name, spec = assignment.replica, assignment.spec
        assert spec is not None  # a `run` assignment always has its spec
        if self._assignments.get(name) is not assignment:
            return None  # a stop overtook it: nothing to start, the stop reports
        try:
            status = await self.driver.start(spec)
        except DriverError as error:
            log.warning("cannot start replica %s: %s", name, error)
            exit_ = ReplicaExit(name, START_FAILED_EXIT_CODE, f"cannot start: {error}")
            if self._assignments.get(name) is assignment:
                return await self._record_exit(exit_)
            return None
        self._started[name] = status.started_at
        return self._report.started(spec)

    async def _start_and_watch(self, assignment: Assignment) -> None:
        """Start, report, then probe: the `started` goes before any `ready`."""
        report = await self._start(assignment)
        if report is None:
            return
        self._sink.send(report)
        if report["type"] == events.REPLICA_STARTED:
            self._probes.watch(self._spec(assignment.replica))

    async def _report_started(self, name: str) -> JsonEvent | None:
        return self._report.started(self._spec(name)) if name in self._started else None

    async def _report_current(self, current: Assignment) -> JsonEvent | None:
        """Re-report an exited or stopped replica (a redelivered or overtaken event)."""
        if current.state is State.EXITED and current.exit_code is not None:
            reason = f"exited earlier with code {current.exit_code}"
            return self._report.exited(
                current.node, current.deployment, current.replica, current.exit_code, reason
            )
        return self._report.stopped(current.node, current.deployment, current.replica)

    async def _stop(self, node: str, deployment: str, replica: str) -> JsonEvent:
        self._probes.forget(replica)
        await self.driver.stop(replica)
        self._started.pop(replica, None)
        return self._report.stopped(node, deployment, replica)

    async def _record_exit(self, exit_: ReplicaExit) -> JsonEvent:
        assignment = self._assignments[exit_.name]
        self._save(replace(assignment, state=State.EXITED, exit_code=exit_.exit_code))
        self._probes.forget(exit_.name)
        self._started.pop(exit_.name, None)
        await self.driver.stop(exit_.name)  # the driver forgets the exited replica
        return self._report.exited(
            assignment.node, assignment.deployment, exit_.name, exit_.exit_code, exit_.reason
        )

    async def _send_after(self, report: Awaitable[JsonEvent | None]) -> None:
        event = await report
        if event is not None:
            self._sink.send(event)

    def _liveness_failed(self, spec: ReplicaSpec, reason: str) -> None:
        """Kill a replica its liveness or startup probe found dead and report it exited (in its
        turn among the replica's operations, and only if it still runs by then)."""
        why = f"{reason}; killed, to be restarted"
        self._ops.queue(spec.name, self._exit_operation(ReplicaExit(spec.name, KILLED, why)))

    def _readiness_changed(self, spec: ReplicaSpec, ready: bool, reason: str | None) -> None:
        if spec.name in self._started:  # a flip racing a stop or an exit is not news
            self._sink.send(self._report.readiness(spec, ready, reason))

    def _save(self, assignment: Assignment) -> Assignment:
        assignment = replace(assignment, updated_at=self._clock())
        self._writes.save(assignment)
        self._assignments[assignment.replica] = assignment
        return assignment

    def _spec(self, name: str) -> ReplicaSpec:
        spec = self._assignments[name].spec
        assert spec is not None  # only replicas scheduled here (with a spec) ever start
        return spec


async def _ready(event: JsonEvent) -> JsonEvent:
    return event
