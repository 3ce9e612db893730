"""The agent's decisions, pure: what an event or an exit does to a replica, given what the agent
was told before (its `Assignment`), and what to do after a restart.

An assignment is what the agent was told about a replica and where that left it:

- `run`: scheduled here and not stopped; it should be running (or it is starting).
- `exited`: it exited on its own; it stays exited until a *new* `replica.scheduled` (another
  event id) restarts it in place. A redelivery of the event that started it changes nothing.
- `stopped`: a stop was requested. Final: replica names are never reused, so a
  `replica.scheduled` arriving after the stop (the broker delivers concurrently, so a stop may
  overtake the scheduling it undoes) is answered with `stopped` and starts nothing.

Every answer re-reports the replica's state, so a function that missed a report learns it from
a redelivery, and duplicates are harmless.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from shoal.agent.driver import ReplicaStatus
from shoal.agent.spec import ReplicaSpec

__all__ = [
    "Action",
    "Assignment",
    "Reconciliation",
    "State",
    "on_exit",
    "on_scheduled",
    "on_stop_requested",
    "reconcile",
]


class State(StrEnum):
    RUN = "run"
    EXITED = "exited"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Assignment:
    replica: str
    node: str
    deployment: str
    state: State
    spec: ReplicaSpec | None = None
    """None only for the record of a stop of a replica never scheduled here."""
    scheduled_id: str | None = None
    """The id of the `replica.scheduled` event that last started it."""
    exit_code: int | None = None
    updated_at: float = 0.0


class Action(StrEnum):
    START = "start"
    """Record it as `run`, start it, report started (or exited, when it cannot start)."""
    REPORT_STARTED = "report-started"
    REPORT_EXITED = "report-exited"
    STOP = "stop"
    """Record it as `stopped`, stop it in the driver, report stopped."""
    REPORT_STOPPED = "report-stopped"
    RECORD_EXIT = "record-exit"
    """Record it as `exited`, forget it in the driver, report exited."""
    IGNORE = "ignore"


def on_scheduled(current: Assignment | None, event_id: str) -> Action:
    if current is None:
        return Action.START
    if current.state is State.RUN:
        return Action.REPORT_STARTED
    if current.state is State.STOPPED:
        return Action.REPORT_STOPPED
    return Action.REPORT_EXITED if current.scheduled_id == event_id else Action.START


def on_stop_requested(current: Assignment | None) -> Action:
    """Unknown replicas are recorded as stopped too, so a late `scheduled` cannot start them."""
    if current is not None and current.state is State.STOPPED:
        return Action.REPORT_STOPPED
    return Action.STOP


def on_exit(current: Assignment | None) -> Action:
    """An exit counts only for a replica that should run: a stop may have raced it."""
    if current is not None and current.state is State.RUN:
        return Action.RECORD_EXIT
    return Action.IGNORE


@dataclass(frozen=True, slots=True)
class Reconciliation:
    start: tuple[str, ...] = ()
    """Should run, but the driver does not run it: start it, report started."""
    report_started: tuple[str, ...] = ()
    """Should run and runs (it outlived the agent): report started again."""
    record_exit: tuple[tuple[str, int], ...] = ()
    """Should run, but exited while no agent watched: (name, exit code), as RECORD_EXIT."""
    stop: tuple[ReplicaStatus, ...] = ()
    """Runs (or exited) but should not: stop it, report stopped."""


def reconcile(should_run: Collection[str], known: Iterable[ReplicaStatus]) -> Reconciliation:
    """What to do after a restart, from the replicas that should run (assignments in `run`)
    and what the driver knows (`Driver.list()`); names sorted, so the plan is reproducible."""
    start = set(should_run)
    running: list[str] = []
    exited: list[tuple[str, int]] = []
    extra: list[ReplicaStatus] = []
    for status in known:
        name = status.spec.name
        if name not in start:
            extra.append(status)
            continue
        start.discard(name)
        if status.exit_code is None:
            running.append(name)
        else:
            exited.append((name, status.exit_code))
    return Reconciliation(
        start=tuple(sorted(start)),
        report_started=tuple(sorted(running)),
        record_exit=tuple(sorted(exited)),
        stop=tuple(sorted(extra, key=lambda status: status.spec.name)),
    )
