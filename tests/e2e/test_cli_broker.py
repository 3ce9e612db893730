"""`shoal broker`, `shoal send` and `shoal events` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from local_broker.exclusive import ExclusiveLock
from shoal.cli.main import main
from shoal.platform.ports import free_port
from tests.e2e.conftest import shoal_command, shoal_process, wait_http_ok
from tests.local_broker.conftest import trigger


@pytest.fixture
def broker_url(tmp_path: Path) -> object:
    port = free_port()
    closed = free_port()  # nothing listens there: every delivery fails at once
    manifests = tmp_path / "triggers.yaml"
    manifests.write_text(
        yaml.safe_dump(
            trigger(
                "nowhere",
                f"http://127.0.0.1:{closed}/",
                attributes={"type": "dev.shoal.undeliverable"},
                delivery={"retry": 0},
            )
        )
    )
    args = [
        "broker",
        "--manifests",
        str(manifests),
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
    ]
    with shoal_process(args, tmp_path / "broker.log") as process:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 15.0, process)
        yield f"http://127.0.0.1:{port}/default/default"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_send_then_list_events(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "send",
                "--broker",
                broker_url,
                "--type",
                "dev.shoal.test",
                "--source",
                "/me",
                "--subject",
                "web",
                "--data",
                '{"a": 1}',
                "-e",
                "node=n1",
                "--id",
                "e-1",
            ]
        )
        == 0
    )
    assert "202" in capsys.readouterr().out
    assert (
        main(
            [
                "send",
                "--broker",
                broker_url,
                "--type",
                "dev.shoal.other",
                "--source",
                "/me",
                "--id",
                "e-2",
            ]
        )
        == 0
    )
    capsys.readouterr()

    assert main(["events", "--broker", broker_url, "-o", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [entry["event"]["id"] for entry in lines] == ["e-1", "e-2"]
    first = lines[0]["event"]
    assert first["node"] == "n1"
    assert first["data"] == {"a": 1}

    assert main(["events", "--broker", broker_url, "--type", "dev.shoal.other"]) == 0
    text = capsys.readouterr().out
    assert "e-2" in text
    assert "e-1" not in text


def test_events_lists_the_newest_unless_told_where_to_start(
    broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(1, 6):
        send = ["send", "--broker", broker_url, "--type", "t", "--source", "/me", "--id", f"e-{n}"]
        assert main(send) == 0
    capsys.readouterr()

    def ids(*args: str) -> tuple[list[str], str]:
        assert main(["events", "--broker", broker_url, *args]) == 0
        printed = capsys.readouterr()
        return [line.split("id=")[1] for line in printed.out.splitlines()], printed.err

    assert ids("--limit", "2") == (
        ["e-4", "e-5"],
        "(the newest 2; --after SEQ or a larger --limit shows earlier ones)\n",
    )
    assert ids() == (["e-1", "e-2", "e-3", "e-4", "e-5"], "")  # fewer than the limit: all
    assert ids("--after", "0", "--limit", "2") == (["e-1", "e-2"], "")
    assert ids("--after", "3") == (["e-4", "e-5"], "")


def test_events_follow_starts_at_the_newest_and_prints_what_comes(broker_url: str) -> None:
    def send(event_id: str) -> None:
        args = ["send", "--broker", broker_url, "--type", "t", "--source", "/me", "--id", event_id]
        assert main(args) == 0

    for n in range(1, 4):
        send(f"old-{n}")
    command = shoal_command("events", "--broker", broker_url, "--follow", "--limit", "2")
    follower = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        lines = [follower.stdout.readline(), follower.stdout.readline()]
        send("new-1")
        lines.append(follower.stdout.readline())
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0  # Ctrl-C ends it quietly
    assert [line.split("id=")[1].strip() for line in lines] == ["old-2", "old-3", "new-1"]


def test_send_reports_bad_data_and_rejections(
    broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "send",
                "--broker",
                broker_url,
                "--type",
                "t",
                "--source",
                "/me",
                "--data",
                "{not json",
            ]
        )
        == 2
    )
    assert "not valid JSON" in capsys.readouterr().err
    assert (
        main(
            [
                "send",
                "--broker",
                broker_url,
                "--type",
                "t",
                "--source",
                "/me",
                "-e",
                "knativebrokerttl=1",
            ]
        )
        == 1
    )
    assert "400" in capsys.readouterr().err


def test_dead_letters_are_listed(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "send",
                "--broker",
                broker_url,
                "--type",
                "dev.shoal.undeliverable",
                "--source",
                "/me",
                "--id",
                "lost-1",
            ]
        )
        == 0
    )
    for _ in range(100):
        capsys.readouterr()
        assert main(["events", "--broker", broker_url, "--dead"]) == 0
        out = capsys.readouterr().out
        if "lost-1" in out:
            break
        time.sleep(0.05)
    assert "lost-1" in out
    assert "dead#1 [" in out


def test_broker_refuses_to_start_on_a_bad_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(trigger("broken", "http://127.0.0.1:1/", filters=[{"exact": {}}]))
    )
    result = subprocess.run(
        shoal_command(
            "broker",
            "--manifests",
            str(bad),
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "data"),
        ),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "bad.yaml" in result.stderr
    assert "broken" in result.stderr


@pytest.mark.parametrize("command", ["broker", "up"])
def test_an_event_log_that_cannot_be_opened_is_a_message_not_a_traceback(
    command: str, tmp_path: Path
) -> None:
    damaged = tmp_path / "data" / "brokers" / "default" / "default.db"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a database, " * 1000)
    extra = ["--api-port", "0"] if command == "up" else []
    result = subprocess.run(
        shoal_command(
            command, "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), *extra
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"shoal {command}: opening the event log {damaged}: file is not a database" in (
        result.stderr
    )
    assert "move the file aside" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "lock", "message"),
    [
        (
            "broker",
            "brokers/default/default.db.lock",
            "the event log {data}/brokers/default/default.db is open in another broker "
            "(process {pid}): stop that one, or give this one another data dir",
        ),
        (
            "up",
            "up.lock",
            "another shoal up (process {pid}) runs on {data}: stop it (Ctrl-C there), "
            "or give this one another --data-dir",
        ),
    ],
)
def test_a_data_dir_in_use_is_refused_naming_its_user(
    command: str, lock: str, message: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    held = ExclusiveLock.acquire(data / lock)  # as the first broker or shoal up would hold it
    try:
        extra = ["--api-port", "0"] if command == "up" else []
        result = subprocess.run(
            shoal_command(command, "--port", str(free_port()), "--data-dir", str(data), *extra),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        held.release()
    assert result.returncode == 1
    expected = message.format(data=data.resolve() if command == "up" else data, pid=os.getpid())
    assert result.stderr == f"shoal {command}: {expected}\n"
