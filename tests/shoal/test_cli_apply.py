"""`shoal apply`, `delete`, `scale` and `rollout undo` as a user runs them, against a real
`shoal broker`: what reaches the broker's log, and what is refused before anything is sent."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from shoal.cli.main import main

from .cli_servers import logged_events, running_broker


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "shoal.dev/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"image": f"registry.example/{name}:v1", **spec},
    }


def write(path: Path, *documents: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents))
    return path


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    with running_broker(tmp_path) as url:
        yield url


def test_apply_sends_one_applied_event_per_document_of_files_and_folders(
    broker_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    web, worker, cron = deployment("web", replicas=3), deployment("worker"), deployment("cron")
    single = write(tmp_path / "web.yaml", web)
    write(tmp_path / "more" / "b.yml", worker)
    write(tmp_path / "more" / "nested" / "a.yaml", cron)
    (tmp_path / "more" / "README.txt").write_text("not a manifest")

    status = main(
        ["apply", "--broker", broker_url, "-f", str(single), "-f", str(tmp_path / "more")]
    )

    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        "deployment/web applied",
        "deployment/worker applied",
        "deployment/cron applied",
    ]
    logged = logged_events(broker_url)
    assert [(e["type"], e["subject"], e["source"]) for e in logged] == [
        ("dev.shoal.deployment.applied", "web", "/shoal/cli"),
        ("dev.shoal.deployment.applied", "worker", "/shoal/cli"),
        ("dev.shoal.deployment.applied", "cron", "/shoal/cli"),
    ]
    assert [e["data"] for e in logged] == [{"manifest": d} for d in (web, worker, cron)]
    assert logged[0]["datacontenttype"] == "application/json"
    assert len({e["id"] for e in logged}) == 3


def test_applying_the_same_file_again_sends_it_again(broker_url: str, tmp_path: Path) -> None:
    """Not deduplicated by content: after a change, re-applying the old file is a revert."""
    path = write(tmp_path / "web.yaml", deployment("web"))

    assert main(["apply", "--broker", broker_url, "-f", str(path)]) == 0
    assert main(["apply", "--broker", broker_url, "-f", str(path)]) == 0

    first, second = logged_events(broker_url)
    assert first["data"] == second["data"]
    assert first["id"] != second["id"]


def test_every_problem_is_printed_and_nothing_is_sent(
    broker_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    many = write(
        tmp_path / "many.yaml",
        deployment("good"),
        {"apiVersion": "shoal.dev/v1", "kind": "Deployment", "metadata": {"name": "Bad_Name"},
         "spec": {"replicas": -1}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}},
    )  # fmt: skip
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Deployment\nspec: [unclosed\n")
    twice = write(tmp_path / "twice.yaml", deployment("good"))

    status = main(
        ["apply", "--broker", broker_url, "-f", str(many), "-f", str(broken), "-f", str(twice)]
    )

    assert status == 1
    err = capsys.readouterr().err
    assert f"{broken}: not valid YAML" in err
    assert f"{many} (document 2): metadata.name:" in err
    assert f"{many} (document 2): spec.replicas:" in err
    assert f"{many} (document 2): spec.image:" in err
    assert f"{many} (document 3): kind 'Service' cannot be applied; shoal apply takes " in err
    assert f"{twice}: deployment 'good' is also defined in {many} (document 1)" in err
    assert "problem(s); nothing was sent" in err.splitlines()[-1]
    assert logged_events(broker_url) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no documents in"),
        ("- just\n- a list\n", "is not a mapping; write apiVersion: shoal.dev/v1"),
        (
            "apiVersion: shoal.dev/v1\nkind: Deployment\nmetadata: {name: web}\n"
            "spec: {image: 'x:1', env: {DAY: 2024-01-01}}\n",
            'spec.env.DAY: is datetime.date(2024, 1, 1); quote it: DAY: "2024-01-01"',
        ),
    ],
)
def test_documents_that_are_no_deployment_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(content)

    assert main(["apply", "--broker", "http://127.0.0.1:9/x", "-f", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_a_missing_file_or_an_empty_folder_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()

    status = main(["apply", "-f", str(tmp_path / "nope.yaml"), "-f", str(tmp_path / "empty")])

    assert status == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nope.yaml'}: cannot read it: No such file or directory" in err
    assert f"{tmp_path / 'empty'}: a folder without .yaml, .yml, .json files" in err


def test_apply_reads_stdin_and_dry_run_sends_nothing(
    broker_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = yaml.safe_dump_all([deployment("a"), deployment("b")])
    monkeypatch.setattr("sys.stdin", io.StringIO(text))

    assert main(["apply", "--broker", broker_url, "-f", "-", "--dry-run"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "deployment/a valid (dry run)",
        "deployment/b valid (dry run)",
    ]
    assert logged_events(broker_url) == []


def test_delete_scale_and_rollout_undo_send_their_events(
    broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = ["--broker", broker_url, "--no-check"]  # the API's check: test_cli_checks.py

    assert main(["delete", "deployment", "web", "worker", "web", *broker]) == 0
    assert main(["scale", "deploy", "web", "--replicas", "5", *broker]) == 0
    assert (
        main(["scale", "deployments", "web", "--replicas", "0", "--reason", "night", *broker]) == 0
    )
    assert main(["rollout", "undo", "deployment", "web", *broker]) == 0
    assert main(["rollout", "undo", "deployment", "web", "--to-revision", "3", *broker]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "deployment/web deleted",
        "deployment/worker deleted",
        "deployment/web scaled",
        "deployment/web scaled",
        "deployment/web rolled back",
        "deployment/web rolled back",
    ]
    logged = logged_events(broker_url)
    assert [(e["type"].rsplit(".", 1)[1], e["subject"], e["data"]) for e in logged] == [
        ("deleted", "web", {"deployment": "web"}),
        ("deleted", "worker", {"deployment": "worker"}),
        ("scaled", "web", {"deployment": "web", "replicas": 5, "reason": "shoal scale"}),
        ("scaled", "web", {"deployment": "web", "replicas": 0, "reason": "night"}),
        ("rollback", "web", {"deployment": "web"}),
        ("rollback", "web", {"deployment": "web", "revision": 3}),
    ]
    assert {e["source"] for e in logged} == {"/shoal/cli"}


def test_a_negative_replica_count_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scale", "deployment", "web", "--replicas", "-1"])

    assert exited.value.code == 2
    assert "expected a whole number >= 0, got '-1'" in capsys.readouterr().err


def test_an_unreachable_broker_is_named_with_where_its_url_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOAL_BROKER_URL", "http://127.0.0.1:9/default/default")
    path = write(tmp_path / "web.yaml", deployment("web"))

    assert main(["apply", "-f", str(path)]) == 1

    assert capsys.readouterr().err.startswith(
        "shoal apply: cannot reach the broker at http://127.0.0.1:9/default/default "
        "(from $SHOAL_BROKER_URL): [Errno 111] Connection refused"
    )


class FlakyIngress(BaseHTTPRequestHandler):
    """Answers 503 to the first POST and 202 to the next, keeping what it received."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(503 if len(self.received) == 1 else 202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_post_the_broker_could_not_take_is_retried_in_binary_mode_with_the_same_id(
    tmp_path: Path,
) -> None:
    FlakyIngress.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyIngress)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/default/default"
    path = write(tmp_path / "web.yaml", deployment("web"))
    try:
        assert main(["apply", "--broker", url, "-f", str(path)]) == 0
    finally:
        server.shutdown()
        server.server_close()

    (first, first_body), (second, second_body) = FlakyIngress.received
    assert first["ce-id"] == second["ce-id"]
    assert (first["ce-type"], first["ce-source"], first["ce-subject"]) == (
        "dev.shoal.deployment.applied",
        "/shoal/cli",
        "web",
    )
    assert first["content-type"] == "application/json"
    assert json.loads(first_body) == json.loads(second_body) == {"manifest": deployment("web")}
