"""`shoal broker` and `shoal send` as a user runs them: start-up refusals and bad input."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from local_broker.exclusive import ExclusiveLock
from shoal.platform.ports import free_port
from tests.e2e.conftest import cli_send, shoal_command
from tests.local_broker.conftest import trigger


def test_send_reports_bad_data_and_rejections(
    broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_send(broker_url, "--type", "t", "--source", "/me", "--data", "{not json") == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert cli_send(broker_url, "--type", "t", "--source", "/me", "-e", "knativebrokerttl=1") == 1
    assert "400" in capsys.readouterr().err


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
