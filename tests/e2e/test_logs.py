"""`shoal logs` as a user runs it against `shoal up --driver exec`: the CLI asks the API where
the replica runs and that node's agent what it printed. Every piece is a real process."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from shoal import events
from shoal.platform.harness import RunningPlatform, post_event
from tests.e2e.conftest import shoal_command
from tests.e2e.test_orchestration import apply, deployment

WAIT_SECONDS = 60.0
# Prints five numbered lines, one of them on stderr, then runs until stopped.
PRINTING = ["sh", "-c", "for n in 1 2 3 4; do echo line $n; done; echo oops >&2; exec sleep 300"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def cli_env(platform: RunningPlatform) -> dict[str, str]:
    return {**os.environ, "SHOAL_API_URL": platform.api_url(), "SHOAL_CONFIG": "/nonexistent"}


def shoal(platform: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        shoal_command(*args),
        env=cli_env(platform),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_logs_prints_the_last_lines_and_follows_until_the_replica_stops(
    exec_platform: RunningPlatform,
) -> None:
    platform = exec_platform
    apply(platform, deployment("web", 1, "local/web:v1", command=PRINTING))
    deadline = time.monotonic() + WAIT_SECONDS

    def replicas() -> list[str]:
        listed = shoal(platform, "get", "replicas", "-o", "json")
        assert listed.returncode == 0, listed.stderr
        return [item["name"] for item in json.loads(listed.stdout)["items"]]

    while not (names := replicas()):
        assert time.monotonic() < deadline, "no replica of web"
        time.sleep(0.5)
    (replica,) = names
    while (printed := shoal(platform, "logs", replica)).stdout.count("\n") < 5:
        assert time.monotonic() < deadline, f"{replica} printed {printed!r}"
        time.sleep(0.5)

    assert printed.stdout == "line 1\nline 2\nline 3\nline 4\noops\n"
    assert printed.returncode == 0
    assert shoal(platform, "logs", replica, "--tail", "2").stdout == "line 4\noops\n"

    by_deployment = shoal(platform, "logs", "web")
    assert by_deployment.returncode == 1
    assert by_deployment.stderr == (
        f"shoal logs: replica 'web' not found; web is a deployment: name one of its "
        f"replicas ({replica})\n"
    )

    command = shoal_command("logs", replica, "--tail", "1", "--follow")
    with subprocess.Popen(
        command, env=cli_env(platform), stdout=subprocess.PIPE, text=True
    ) as follower:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "oops\n"
        post_event(platform.ingress, events.DEPLOYMENT_DELETED, {"deployment": "web"})
        assert follower.wait(timeout=WAIT_SECONDS) == 0  # it ends with the replica
        assert follower.stdout.read() == ""
