"""`shoal send` and `shoal events` as a user runs them, against a real `shoal broker`."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from shoal.cli.main import main
from tests.e2e.conftest import cli_send, shoal_command


def test_send_then_list_events(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_send(
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
        )
        == 0
    )
    assert "202" in capsys.readouterr().out
    assert cli_send(broker_url, "--type", "dev.shoal.other", "--source", "/me", "--id", "e-2") == 0
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
        assert cli_send(broker_url, "--type", "t", "--source", "/me", "--id", f"e-{n}") == 0
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


def test_an_empty_answer_says_so_on_stderr_only(
    broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def printed(*args: str) -> tuple[str, str]:
        assert main(["events", "--broker", broker_url, *args]) == 0
        out, err = capsys.readouterr()
        return out, err

    assert printed() == ("", "No events.\n")
    assert printed("--dead") == ("", "No dead letters.\n")
    assert printed("-o", "json") == ("", "No events.\n")
    assert cli_send(broker_url, "--type", "t", "--source", "/me", "--id", "e-1") == 0
    capsys.readouterr()
    assert printed("--type", "dev.shoal.other") == ("", "No events of type dev.shoal.other.\n")
    assert printed("--after", "1") == ("", "No events after 1.\n")
    out, err = printed()
    assert (out.split("id=")[1], err) == ("e-1\n", "")


def test_events_follow_starts_at_the_newest_and_prints_what_comes(broker_url: str) -> None:
    def send(event_id: str) -> None:
        assert cli_send(broker_url, "--type", "t", "--source", "/me", "--id", event_id) == 0

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


def test_dead_letters_are_listed(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_send(
            broker_url, "--type", "dev.shoal.undeliverable", "--source", "/me", "--id", "lost-1"
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
