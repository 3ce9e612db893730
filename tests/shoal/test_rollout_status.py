"""Waiting for a rollout: the verdict from the API's view (pure), and the wait against the
real API function (with a fake clock, so a timeout takes no time)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from shoal.cli.endpoints import Endpoint
from shoal.cli.errors import CliError
from shoal.cli.main import main
from shoal.cli.rollout_status import Verdict, replica_problems, verdict, wait_for_rollout
from shoal.model import DEPLOYMENT, REPLICA
from shoal.state import open_store
from tests.functions.api_records import DEPLOYMENTS, REPLICAS

from .cli_servers import running_api

DONE = 'deployment "web" successfully rolled out'


def view(state: str = "progressing", **counts: Any) -> dict[str, Any]:
    return {
        "revision": "bbbbbbbbbb",
        "state": state,
        "replicas": 3,
        "updated": 3,
        "available": 3,
        "ready": 3,
        **counts,
    }


@pytest.mark.parametrize(
    ("seen", "revision", "expected"),
    [
        (view("complete"), None, Verdict("done", DONE)),
        (view("complete"), "bbbbbbbbbb", Verdict("done", DONE)),
        (
            view("complete"),
            "cccccccccc",  # the new document not taken yet: the old rollout does not count
            Verdict(
                "waiting",
                'Waiting for deployment "web" to take revision cccccccccc (it runs bbbbbbbbbb)...',
            ),
        ),
        (
            view(updated=1, available=1),
            None,
            Verdict(
                "waiting",
                'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have '
                "been updated...",
            ),
        ),
        (
            view(available=2),
            None,
            Verdict(
                "waiting",
                'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are '
                "available...",
            ),
        ),
        (
            view(),
            None,
            Verdict(
                "waiting",
                'Waiting for deployment "web" rollout to finish: old replicas are pending '
                "termination...",
            ),
        ),
        (
            view("stalled", updated=2, available=1),
            None,
            Verdict(
                "failed",
                'deployment "web" exceeded its progress deadline (2 of 3 updated, 1 available)',
            ),
        ),
        (view("deleting"), None, Verdict("failed", 'deployment "web" is being deleted')),
        (None, None, Verdict("failed", "deployment 'web' not found")),
        (None, "cccccccccc", Verdict("waiting", 'Waiting for deployment "web" to be stored...')),
    ],
)
def test_the_verdict(seen: dict[str, Any] | None, revision: str | None, expected: Verdict) -> None:
    assert verdict("web", seen, revision) == expected


NO_SELECTOR_MATCH = "0/3 nodes are available: 3 node(s) didn't match nodeSelector."


def replica(name: str, phase: str, reason: str | None) -> dict[str, Any]:
    return {"name": name, "deployment": "web", "phase": phase, "reason": reason}


@pytest.mark.parametrize(
    ("replicas", "expected"),
    [
        ([], {}),
        (
            [
                replica("web-1", "unschedulable", NO_SELECTOR_MATCH),
                replica("web-2", "unschedulable", NO_SELECTOR_MATCH),
                replica("web-3", "unschedulable", NO_SELECTOR_MATCH),
            ],
            {
                ("unschedulable", NO_SELECTOR_MATCH): (
                    f"  replica web-1 (and 2 more) unschedulable: {NO_SELECTOR_MATCH}"
                )
            },
        ),
        (
            [
                replica("web-1", "exited", "exited with code 1; last output: boom"),
                replica("web-2", "exited", "exited with code 1; last output: bang"),
                replica("web-3", "lost", "node n2 sent no heartbeat for 12.0 s"),
            ],
            {
                ("exited", "exited with code 1; last output: boom"): (
                    "  replica web-1 exited: exited with code 1; last output: boom"
                ),
                ("exited", "exited with code 1; last output: bang"): (
                    "  replica web-2 exited: exited with code 1; last output: bang"
                ),
                ("lost", "node n2 sent no heartbeat for 12.0 s"): (
                    "  replica web-3 lost: node n2 sent no heartbeat for 12.0 s"
                ),
            },
        ),
        (
            # The reason of a replica's last exit stays while it is restarted, runs again or
            # is stopped: it no longer says why the replica is not available.
            [
                replica("web-1", "scheduled", "exited with code 1"),
                replica("web-2", "running", "exited with code 1"),
                replica("web-3", "stopping", "exited with code 1"),
                replica("web-4", "pending", None),
                replica("web-5", "unschedulable", None),
            ],
            {},
        ),
    ],
)
def test_the_replica_problems(
    replicas: list[dict[str, Any]], expected: dict[tuple[str, str], str]
) -> None:
    assert replica_problems(replicas) == expected


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """web progressing (two replicas unschedulable, one exited), worker complete, old stalled."""
    folder = tmp_path_factory.mktemp("api")
    state_url = f"sqlite:///{folder / 'state.db'}"
    store = open_store(state_url)
    web, worker = DEPLOYMENTS
    running, unschedulable, exited, _worker = REPLICAS
    with store.transaction() as tx:
        for record in (
            web,
            replace(worker, state="complete"),
            replace(worker, name="old", state="stalled"),
        ):
            tx.put(DEPLOYMENT, record.name, record.to_body(), labels=record.labels())
        for copy in (
            running,
            unschedulable,
            replace(unschedulable, name="web-bbbbbb-00000005"),
            exited,
        ):
            tx.put(REPLICA, copy.name, copy.to_body(), labels=copy.labels())
    store.close()
    with running_api(folder, state_url) as url:
        yield Endpoint(url, "the test")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_complete_rollout_is_done_at_once(api: Endpoint) -> None:
    said: list[str] = []
    wait_for_rollout(api, "worker", None, 10, said.append)
    assert said == ['deployment "worker" successfully rolled out']


def test_a_rollout_under_way_times_out_saying_its_progress_and_problems_once(
    api: Endpoint,
) -> None:
    said: list[str] = []
    fake = FakeTime()
    with pytest.raises(CliError, match=r"timed out after 5 s waiting for deployment 'web'"):
        wait_for_rollout(api, "web", None, 5, said.append, clock=fake.clock, sleep=fake.sleep)
    assert said == [
        'Waiting for deployment "web" rollout to finish: 2 out of 3 new replicas have been '
        "updated...",
        "  replica web-aaaaaa-00000003 exited: exited with status 1",
        "  replica web-bbbbbb-00000002 (and 1 more) unschedulable: 0/2 nodes are available: "
        "2 node(s) had insufficient cpu.",
    ]
    assert fake.now == 5.0  # polled once a second


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("old", 'deployment "old" exceeded its progress deadline'),
        ("ghost", "deployment 'ghost' not found"),
    ],
)
def test_rollout_status_fails_on_a_stall_or_an_unknown_name(
    api: Endpoint, name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rollout", "status", "deployment", name, "--api", api.url]) == 1
    assert capsys.readouterr().err.startswith(f"shoal rollout status: {message}")
