"""Readiness probes end to end: `shoal up --driver exec` runs a real HTTP server as the replica,
its agent probes it (by HTTP, or by a command), and the deployment counts it ready only while
its health check passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from shoal import events
from shoal.platform.eventlog import EventLogReader, LoggedEvent, news_of, wait_until
from shoal.platform.harness import RunningPlatform, post_event
from tests.e2e.conftest import shoal_command
from tests.e2e.test_orchestration import deployment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# A replica that answers /healthz with 200 while the file $HEALTHY exists, and 503 otherwise.
SERVER = """
import http.server, os
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if os.path.exists(os.environ["HEALTHY"]) else 503)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Health).serve_forever()
"""
READINESS = (
    events.REPLICA_STARTED,
    events.REPLICA_READY,
    events.REPLICA_UNREADY,
    events.REPLICA_EXITED,
)
WAIT_SECONDS = 60.0


def health_server(healthy: Path, **probes: dict[str, object]) -> dict[str, object]:
    """Deployment web: one replica of SERVER, healthy while `healthy` exists, with `probes`
    (e.g. readinessProbe=...), each checked every second."""
    return deployment(
        "web",
        1,
        "local/web:v1",
        command=[sys.executable, "-c", SERVER],
        env={"HEALTHY": str(healthy)},
        ports=[{"name": "http"}],
        **{key: {**probe, "periodSeconds": 1} for key, probe in probes.items()},
    )


def ready_count(platform: RunningPlatform) -> object:
    """`ready` of deployment web as `shoal get deployments web -o json` gives it."""
    env = {**os.environ, "SHOAL_API_URL": platform.api_url(), "SHOAL_CONFIG": "/nonexistent"}
    shown = subprocess.run(
        shoal_command("get", "deployments", "web", "-o", "json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(shown.stdout)["ready"]


def of_type(logged: Sequence[LoggedEvent], type_: str) -> list[Mapping[str, object]]:
    return [entry for event in logged if event.type == type_ for entry in news_of(event, "web")]


def wait_for_news(reader: EventLogReader, type_: str) -> list[Mapping[str, object]]:
    """The entries of `type_` about web, once there are any (AssertionError after a minute)."""
    found = wait_until(
        reader, READINESS, lambda logged: bool(of_type(logged, type_)), timeout=WAIT_SECONDS
    )
    assert found, f"no {type_} in {WAIT_SECONDS} s"
    return of_type(reader.events(READINESS), type_)


def wait_for_ready_count(platform: RunningPlatform, wanted: int) -> object:
    """`shoal get deployments`' ready count once it is `wanted`, or after a minute what it is."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (count := ready_count(platform)) != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
    return count


@pytest.mark.parametrize(
    ("probe", "failed"),
    [
        (
            {"httpGet": {"path": "/healthz", "port": "http"}},
            "HTTP probe failed with statuscode: 503",
        ),
        (
            {"exec": {"command": ["sh", "-c", "test -e $HEALTHY"]}},
            "command sh -c 'test -e $HEALTHY' exited with 1",
        ),
    ],
    ids=["httpGet", "exec"],
)
def test_a_replica_is_ready_only_while_its_probe_passes(
    exec_platform: RunningPlatform, tmp_path: Path, probe: dict[str, object], failed: str
) -> None:
    healthy = tmp_path / "healthy"
    document = health_server(healthy, readinessProbe={**probe, "failureThreshold": 2})
    reader = EventLogReader(exec_platform.url)

    post_event(exec_platform.ingress, events.DEPLOYMENT_APPLIED, {"manifest": document})
    wait_for_news(reader, events.REPLICA_STARTED)
    time.sleep(3.0)  # three probes answered 503 meanwhile
    reader.read(READINESS)
    assert of_type(reader.events(READINESS), events.REPLICA_READY) == []
    assert ready_count(exec_platform) == 0

    healthy.touch()
    wait_for_news(reader, events.REPLICA_READY)
    assert wait_for_ready_count(exec_platform, 1) == 1

    healthy.unlink()
    (unready,) = wait_for_news(reader, events.REPLICA_UNREADY)
    assert unready["reason"] == failed
    assert wait_for_ready_count(exec_platform, 0) == 0


def test_a_replica_that_fails_its_liveness_probe_is_restarted(
    exec_platform: RunningPlatform, tmp_path: Path
) -> None:
    healthy = tmp_path / "healthy"
    healthy.touch()
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 2}
    document = health_server(healthy, livenessProbe=probe)
    reader = EventLogReader(exec_platform.url)
    post_event(exec_platform.ingress, events.DEPLOYMENT_APPLIED, {"manifest": document})
    (started,) = wait_for_news(reader, events.REPLICA_STARTED)

    healthy.unlink()
    (exited,) = wait_for_news(reader, events.REPLICA_EXITED)
    healthy.touch()  # healthy again once restarted

    assert (exited["replica"], exited["exit_code"]) == (started["replica"], 137)
    assert exited["reason"] == (
        "liveness probe failed: HTTP probe failed with statuscode: 503; killed, to be restarted"
    )
    # Restarted in place after the crash back-off (10 s), as after any exit.
    assert wait_until(
        reader,
        READINESS,
        lambda logged: len(of_type(logged, events.REPLICA_STARTED)) == 2,
        timeout=WAIT_SECONDS,
    ), "the replica was not restarted"
    restarted = of_type(reader.events(READINESS), events.REPLICA_STARTED)[-1]
    assert restarted["replica"] == started["replica"]
