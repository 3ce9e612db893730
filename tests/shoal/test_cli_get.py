"""`shoal get` against the real API function process (functions-framework serving
functions/api.py over a SQLite store), and its tables as pure formatting."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from shoal.cli.main import main
from shoal.cli.tables import format_table, human_duration, node_columns, table
from shoal.state import open_store
from tests.functions.api_records import T0, write_cluster

from .cli_servers import running_api


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("api")
    state_url = f"sqlite:///{folder / 'state.db'}"
    store = open_store(state_url)
    write_cluster(store)
    store.close()
    with running_api(folder, state_url) as url:
        yield url


def shoal_get(capsys: pytest.CaptureFixture[str], api_url: str, *args: str) -> list[str]:
    assert main(["get", *args, "--api", api_url]) == 0
    return capsys.readouterr().out.splitlines()


def raw(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_deployments_as_a_table(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert shoal_get(capsys, api_url, "deployments") == [
        "NAME     READY   UP-TO-DATE   AVAILABLE   STATE",
        "web      1/3     2            1           progressing",
        "worker   0/1     0            0           complete",
    ]
    assert shoal_get(capsys, api_url, "deploy", "web", "-o", "wide") == [
        "NAME   READY   UP-TO-DATE   AVAILABLE   STATE         REVISION   IMAGE",
        "web    1/3     2            1           progressing   2          registry.example/web:v2",
    ]


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["deployments"], "/deployments"),
        (["deployment", "web"], "/deployments/web"),
        (["replicas", "--deployment", "web", "--node", "n1"], "/replicas?deployment=web&node=n1"),
        (["nodes"], "/nodes"),
        (["no", "n2"], "/nodes/n2"),
    ],
)
def test_json_output_is_the_api_answer_unchanged(
    api_url: str, capsys: pytest.CaptureFixture[str], args: list[str], path: str
) -> None:
    assert main(["get", *args, "-o", "json", "--api", api_url]) == 0

    assert capsys.readouterr().out == raw(api_url + path)


def test_replicas_filtered_by_deployment_and_node(
    api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = shoal_get(capsys, api_url, "replicas", "--deployment", "web")
    assert lines[0].split() == ["NAME", "DEPLOYMENT", "READY", "PHASE", "NODE", "RESTARTS", "AGE"]
    assert [line.split()[:6] for line in lines[1:]] == [
        ["web-aaaaaa-00000003", "web", "0/1", "exited", "n2", "2"],
        ["web-bbbbbb-00000001", "web", "1/1", "running", "n1", "0"],
        ["web-bbbbbb-00000002", "web", "0/1", "unschedulable", "<none>", "0"],
    ]
    wide = shoal_get(capsys, api_url, "replica", "--node", "n1", "-o", "wide")
    assert wide[0].split()[-3:] == ["REVISION", "PORTS", "REASON"]
    assert [line.split()[0] for line in wide[1:]] == [
        "web-bbbbbb-00000001",
        "worker-cccccc-00000004",
    ]
    assert wide[1].split()[-3:] == ["bbbbbbbbbb", "31000", "<none>"]


def test_nodes_show_allocated_of_capacity(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    lines = shoal_get(capsys, api_url, "nodes")

    assert [line.split()[:5] for line in lines] == [
        ["NAME", "STATUS", "CPU", "MEMORY", "REPLICAS"],
        ["n1", "Ready", "100m/4000m", "64Mi/8192Mi", "2"],
        ["n2", "NotReady", "100m/2000m", "64Mi/4096Mi", "1"],
    ]


def test_nothing_found_is_said_on_stderr(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "replicas", "--deployment", "nothing", "--api", api_url]) == 0

    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "No resources found.\n")


def test_an_unknown_name_is_the_apis_error(
    api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", "nodes", "nope", "--api", api_url]) == 1

    assert capsys.readouterr().err == "shoal get: node 'nope' not found\n"


@pytest.mark.parametrize(
    "args",
    [["deployments", "--node", "n1"], ["replicas", "web-1", "--deployment", "web"]],
)
def test_filters_only_select_replicas(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert main(["get", *args, "--api", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err.startswith("shoal get: ")


def test_get_follows_the_current_context(
    api_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config.yaml"
    document = {"current-context": "dev", "contexts": {"dev": {"api": api_url}}}
    config.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("SHOAL_CONFIG", str(config))
    monkeypatch.delenv("SHOAL_API_URL", raising=False)

    assert main(["get", "nodes", "n1"]) == 0
    assert capsys.readouterr().out.split()[6:11] == [
        "n1",
        "Ready",
        "100m/4000m",
        "64Mi/8192Mi",
        "2",
    ]

    monkeypatch.setenv("SHOAL_API_URL", "http://127.0.0.1:9")
    assert main(["get", "nodes"]) == 1
    assert capsys.readouterr().err.startswith(
        "shoal get: cannot reach the API at http://127.0.0.1:9 (from $SHOAL_API_URL): "
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [  # k8s.io/apimachinery/pkg/util/duration's own cases, and its edges
        (-2, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (1, "1s"),
        (70, "70s"),
        (190, "3m10s"),
        (300, "5m"),
        (70 * 60, "70m"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (47 * 3600, "47h"),
        (49 * 3600, "2d1h"),
        (3 * 86400, "3d"),
        ((8 * 24 + 2) * 3600, "8d"),
        (367 * 86400, "367d"),
        ((365 * 2 * 24 + 25) * 3600, "2y1d"),
        ((365 * 8 * 24 + 2) * 3600, "8y"),
    ],
)
def test_ages_read_as_in_kubectl(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_columns_are_aligned_three_spaces_apart_without_trailing_blanks() -> None:
    assert format_table(["A", "LONGER"], [["value", ""], ["x", "y"]]) == (
        "A       LONGER\nvalue\nx       y\n"
    )


def test_replica_ages_count_from_creation() -> None:
    now = datetime.fromtimestamp(T0, UTC) + timedelta(minutes=5, seconds=30)
    item = {
        "name": "web-1",
        "deployment": "web",
        "phase": "pending",
        "node": None,
        "restarts": 0,
        "created_at": datetime.fromtimestamp(T0, UTC).isoformat().replace("+00:00", "Z"),
    }

    assert table("replicas", [item, {**item, "created_at": None}], now, wide=False) == (
        "NAME    DEPLOYMENT   READY   PHASE     NODE     RESTARTS   AGE\n"
        "web-1   web          0/1     pending   <none>   0          5m30s\n"
        "web-1   web          0/1     pending   <none>   0          <unknown>\n"
    )


@pytest.mark.parametrize(
    ("phase", "ready_since", "shown"),
    [
        ("running", "2026-01-01T00:00:00Z", "1/1"),
        ("running", None, "0/1"),  # started, its readiness probe has not passed (yet)
        ("exited", None, "0/1"),
        ("scheduled", None, "0/1"),
    ],
)
def test_a_replica_is_shown_ready_while_running_and_ready(
    phase: str, ready_since: str | None, shown: str
) -> None:
    item = {
        "name": "web-1",
        "deployment": "web",
        "phase": phase,
        "node": "n1",
        "restarts": 0,
        "created_at": None,
        "ready_since": ready_since,
    }

    row = table("replicas", [item], datetime.fromtimestamp(T0, UTC), wide=False)

    assert row.splitlines()[1].split()[2:4] == [shown, phase]


@pytest.mark.parametrize(
    ("reason", "unready_reason", "shown"),
    [
        ("exited with status 1", None, "exited with status 1"),
        (
            "exited with status 1",
            "HTTP probe failed with statuscode: 503",
            "HTTP probe failed with statuscode: 503",
        ),
        (None, None, "<none>"),
    ],
)
def test_the_wide_reason_of_a_replica_failing_its_probe_is_the_probe_s(
    reason: str | None, unready_reason: str | None, shown: str
) -> None:
    item = {
        "name": "web-1",
        "deployment": "web",
        "revision": "aaaaaaaaaa",
        "phase": "running",
        "node": "n1",
        "restarts": 1,
        "ports": [31000],
        "created_at": None,
        "ready_since": None,
        "reason": reason,
        "unready_reason": unready_reason,
    }

    row = table("replicas", [item], datetime.fromtimestamp(T0, UTC), wide=True)

    header, line = row.splitlines()
    assert header.split()[-1] == "REASON"
    assert line[header.index("REASON") :].rstrip() == shown


def test_a_node_s_age_counts_from_its_first_registration() -> None:
    now = datetime(2026, 9, 21, 14, 0, tzinfo=UTC)
    node = {
        "name": "n1",
        "ready": True,
        "capacity": {"cpu_millis": 2000, "memory_mib": 2048},
        "allocated": {"cpu_millis": 0, "memory_mib": 0},
        "replicas": 0,
        "created_at": "2026-09-21T12:00:00Z",
        "joined_at": "2026-09-21T13:59:30Z",  # its agent restarted half a minute ago
    }
    assert node_columns(node, now, wide=False)[-1] == "120m"  # as kubectl writes it
    del node["created_at"]  # an API from before created_at: the last join
    assert node_columns(node, now, wide=False)[-1] == "30s"
