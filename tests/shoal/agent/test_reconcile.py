from __future__ import annotations

import pytest

from shoal.agent.driver import ReplicaStatus
from shoal.agent.reconcile import (
    Action,
    Assignment,
    Reconciliation,
    State,
    on_exit,
    on_scheduled,
    on_stop_requested,
    reconcile,
)
from tests.shoal.agent.support import replica


def assigned(state: State, scheduled_id: str | None = "e1") -> Assignment:
    return Assignment("web-1", "n1", "web", state, replica(), scheduled_id)


@pytest.mark.parametrize(
    ("current", "event_id", "action"),
    [
        (None, "e1", Action.START),
        (assigned(State.RUN), "e1", Action.REPORT_STARTED),
        (assigned(State.RUN), "e2", Action.REPORT_STARTED),
        (assigned(State.EXITED), "e1", Action.REPORT_EXITED),
        (assigned(State.EXITED), "e2", Action.START),
        (assigned(State.STOPPED), "e1", Action.REPORT_STOPPED),
        (assigned(State.STOPPED), "e2", Action.REPORT_STOPPED),
        (assigned(State.STOPPED, scheduled_id=None), "e2", Action.REPORT_STOPPED),
    ],
)
def test_on_scheduled(current: Assignment | None, event_id: str, action: Action) -> None:
    assert on_scheduled(current, event_id) is action


@pytest.mark.parametrize(
    ("current", "action"),
    [
        (None, Action.STOP),
        (assigned(State.RUN), Action.STOP),
        (assigned(State.EXITED), Action.STOP),
        (assigned(State.STOPPED), Action.REPORT_STOPPED),
    ],
)
def test_on_stop_requested(current: Assignment | None, action: Action) -> None:
    assert on_stop_requested(current) is action


@pytest.mark.parametrize(
    ("current", "action"),
    [
        (None, Action.IGNORE),
        (assigned(State.RUN), Action.RECORD_EXIT),
        (assigned(State.EXITED), Action.IGNORE),
        (assigned(State.STOPPED), Action.IGNORE),
    ],
)
def test_on_exit(current: Assignment | None, action: Action) -> None:
    assert on_exit(current) is action


def status(name: str, exit_code: int | None = None) -> ReplicaStatus:
    return ReplicaStatus(replica(name), 1.0, exit_code)


@pytest.mark.parametrize(
    ("should_run", "known", "plan"),
    [
        ([], [], Reconciliation()),
        (["a", "b"], [], Reconciliation(start=("a", "b"))),
        (["b", "a"], [status("a"), status("b")], Reconciliation(report_started=("a", "b"))),
        ([], [status("x")], Reconciliation(stop=(status("x"),))),
        ([], [status("x", 1)], Reconciliation(stop=(status("x", 1),))),
        (["a"], [status("a", 3)], Reconciliation(record_exit=(("a", 3),))),
        (
            ["c", "a", "b"],
            [status("z"), status("b"), status("c", 0), status("y", 2)],
            Reconciliation(
                start=("a",),
                report_started=("b",),
                record_exit=(("c", 0),),
                stop=(status("y", 2), status("z")),
            ),
        ),
    ],
)
def test_reconcile(should_run: list[str], known: list[ReplicaStatus], plan: Reconciliation) -> None:
    assert reconcile(should_run, known) == plan
