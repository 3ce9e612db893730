"""`shoal delete`, `scale` and `rollout undo` ask the real API function first: a deployment it
does not know (or a revision it does not have) is refused and nothing is sent for it; an API
that cannot be reached is a warning, and the event goes anyway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.cli.main import main
from shoal.platform.ports import free_port
from shoal.state import open_store
from tests.functions.api_records import write_cluster

from .cli_servers import logged_events, running_api, running_broker

HISTORY = "`shoal rollout history deployment web` lists them"


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("api")
    state_url = f"sqlite:///{folder / 'state.db'}"
    store = open_store(state_url)
    write_cluster(store)  # web (revisions 1 and 2) and worker (one revision)
    store.close()
    with running_api(folder, state_url) as url:
        yield url


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    with running_broker(tmp_path) as url:
        yield url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def subjects(broker_url: str) -> list[tuple[str, str]]:
    return [(e["type"].rsplit(".", 1)[1], e["subject"]) for e in logged_events(broker_url)]


def test_only_deployments_the_api_knows_are_sent_for(
    api_url: str, broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = ["--api", api_url, "--broker", broker_url]

    assert run(capsys, "delete", "deployment", "ghost", "worker", *at) == (
        1,
        "deployment/worker deleted\n",
        "shoal delete: deployment 'ghost' not found (`shoal get deployments` lists them)\n",
    )
    assert run(capsys, "scale", "deployment", "ghost", "--replicas", "2", *at)[0] == 1
    assert run(capsys, "scale", "deployment", "web", "--replicas", "2", *at)[:2] == (
        0,
        "deployment/web scaled\n",
    )
    assert subjects(broker_url) == [("deleted", "worker"), ("scaled", "web")]


def test_shoal_delete_node_sends_a_removal_for_a_node_the_api_knows(
    api_url: str, broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = ["--api", api_url, "--broker", broker_url]

    assert run(capsys, "delete", "node", "n9", "n1", *at) == (
        1,
        "node/n1 deleted\n",
        "shoal delete: node 'n9' not found (`shoal get nodes` lists them)\n",
    )
    (removal,) = logged_events(broker_url)
    assert (removal["type"], removal["subject"]) == ("dev.shoal.node.removed", "n1")
    assert removal["data"] == {"node": "n1", "reason": "deleted with `shoal delete node`"}


@pytest.mark.parametrize(
    ("name", "revision", "problem"),
    [
        ("web", "5", f"deployment web has no revision 5; {HISTORY}"),
        (
            "worker",
            "0",
            "deployment worker has no revision before the current one; "
            "`shoal rollout history deployment worker` lists them",
        ),
        ("web", "0", None),
        ("web", "1", None),
    ],
)
def test_rollout_undo_needs_a_revision_to_go_back_to(
    api_url: str,
    broker_url: str,
    capsys: pytest.CaptureFixture[str],
    *,
    name: str,
    revision: str,
    problem: str | None,
) -> None:
    args = ["rollout", "undo", "deployment", name, "--to-revision", revision]
    code, out, err = run(capsys, *args, "--api", api_url, "--broker", broker_url)

    if problem is None:
        assert (code, out, err) == (0, f"deployment/{name} rolled back\n", "")
        assert subjects(broker_url) == [("rollback", name)]
    else:
        assert (code, out, err) == (1, "", f"shoal rollout undo: {problem}\n")
        assert subjects(broker_url) == []


def test_without_an_api_to_ask_the_event_goes_with_a_warning(
    broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    args = ["scale", "deployment", "web", "--replicas", "1", "--api", nowhere]
    code, out, err = run(capsys, *args, "--broker", broker_url)

    assert (code, out) == (0, "deployment/web scaled\n")
    assert err.startswith("shoal scale: warning: could not check that deployment/web exists")
    assert err.endswith("; sending anyway\n")
    assert subjects(broker_url) == [("scaled", "web")]


def test_no_check_sends_without_asking(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    args = ["delete", "deployment", "ghost", "--no-check", "--api", nowhere, "--broker", broker_url]
    assert run(capsys, *args) == (0, "deployment/ghost deleted\n", "")
    assert subjects(broker_url) == [("deleted", "ghost")]
