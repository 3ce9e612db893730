"""`shoal logs` when it cannot show a replica's output: each case says why, against the real
API function. (What it prints when it can: tests/e2e/test_logs.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shoal.cli.main import main
from shoal.model import NODE, REPLICA, NodeRecord, ReplicaRecord
from shoal.platform.ports import free_port
from shoal.state import open_store

from .cli_servers import running_api

CLOSED = free_port()  # nothing listens there
NODES = (
    NodeRecord("old", 1000, 1024),  # its agent did not say where it serves
    NodeRecord("gone", 1000, 1024, agent_url=f"http://127.0.0.1:{CLOSED}/"),
)
REPLICAS = (
    ReplicaRecord("web-aaaaaa-00000001", "web", "aaaaaaaaaa", phase="unschedulable"),
    ReplicaRecord("web-aaaaaa-00000002", "web", "aaaaaaaaaa", phase="running", node="old"),
    ReplicaRecord("web-aaaaaa-00000003", "web", "aaaaaaaaaa", phase="running", node="gone"),
)


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("api")
    state_url = f"sqlite:///{folder / 'state.db'}"
    store = open_store(state_url)
    with store.transaction() as tx:
        for node in NODES:
            tx.put(NODE, node.name, node.to_body())
        for replica in REPLICAS:
            tx.put(REPLICA, replica.name, replica.to_body(), labels=replica.labels())
    store.close()
    with running_api(folder, state_url) as url:
        yield url


@pytest.mark.parametrize(
    ("replica", "message"),
    [
        (
            "web-aaaaaa-00000001",
            "replica web-aaaaaa-00000001 is unschedulable on no node: it printed nothing",
        ),
        (
            "web-aaaaaa-00000002",
            "node old's agent did not say where it serves (an agent older than `shoal logs`): "
            "restart it, and it says so when it joins",
        ),
        (
            "web-aaaaaa-00000003",
            f"cannot reach node gone's agent at http://127.0.0.1:{CLOSED}/: [Errno 111] "
            "Connection refused",
        ),
        ("web-zzzzzz-00000009", "replica 'web-zzzzzz-00000009' not found"),
        (
            "web",
            "replica 'web' not found; web is a deployment: name one of its replicas "
            "(web-aaaaaa-00000001, web-aaaaaa-00000002, web-aaaaaa-00000003)",
        ),
    ],
)
def test_why_there_is_no_output_is_said(
    api_url: str, replica: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", replica, "--api", api_url]) == 1
    printed = capsys.readouterr()
    assert (printed.out, printed.err) == ("", f"shoal logs: {message}\n")


def test_a_negative_tail_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["logs", "web-1", "--tail", "-1"])
    assert exited.value.code == 2
    assert "expected a whole number >= 0" in capsys.readouterr().err
