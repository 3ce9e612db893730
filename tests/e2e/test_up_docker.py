"""`shoal up --driver docker` as a user runs it: a Deployment runs as real containers on the
local Docker engine (host network, the port the scheduler assigned), answers HTTP on that port,
and scaling it down stops and removes a container. Every piece is real: the broker, the
functions, the agent process and the engine."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from shoal import events
from shoal.platform.agents import AGENT_NAMES
from shoal.platform.harness import RunningPlatform, post_event, running_platform
from tests.docker_engine import Engine, require_engine

from .test_orchestration import deployment

ROOT = Path(__file__).resolve().parents[2]
NODE = AGENT_NAMES["docker"]
WAIT_SECONDS = 90.0
SERVE = ["sh", "-c", "exec python3 -m http.server $PORT --bind 127.0.0.1"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def engine() -> Iterator[Engine]:
    found = require_engine()
    found.remove_node_containers(NODE)  # nothing left from an earlier run to adopt
    yield found
    found.remove_node_containers(NODE)


@pytest.fixture
def platform(tmp_path: Path, engine: Engine) -> Iterator[RunningPlatform]:
    up_args = ["--driver", "docker", "--agent-cpu", "2000", "--agent-memory", "2048"]
    env = {**os.environ, "DOCKER_HOST": engine.host}
    with running_platform(tmp_path / "data", root=ROOT, up_args=up_args, env=env) as running:
        yield running


def running_containers(engine: Engine) -> list[dict[str, Any]]:
    return [c for c in engine.node_containers(NODE) if c["State"]["Running"]]


def eventually(what: str, read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {WAIT_SECONDS} s; last seen: {value!r:.2000}")
        time.sleep(0.5)


def port_of(container: dict[str, Any]) -> int:
    env = dict(item.split("=", 1) for item in container["Config"]["Env"])
    return int(env["PORT"])


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_a_deployment_runs_as_containers_that_serve_on_their_ports(
    platform: RunningPlatform, engine: Engine
) -> None:
    manifest = deployment(
        "web",
        2,
        engine.base_image,
        command=SERVE,
        resources={"cpu": "250m", "memory": "64Mi"},
        ports=[{"name": "http"}],
    )
    post_event(platform.ingress, events.DEPLOYMENT_APPLIED, {"manifest": manifest})

    both = eventually("two running containers", lambda: running_containers(engine), _two)
    ports = sorted(port_of(container) for container in both)
    assert len(set(ports)) == 2  # each replica its own host port
    for container in both:
        labels = container["Config"]["Labels"]
        assert any(value == "web" for value in labels.values()), labels
        assert container["HostConfig"]["NetworkMode"] == "host"
    for port in ports:
        eventually(f"an HTTP answer on port {port}", partial(answers, port), bool)

    scaled = {"deployment": "web", "replicas": 1, "reason": "test: scale down"}
    post_event(platform.ingress, events.DEPLOYMENT_SCALED, scaled)
    eventually("one container left", lambda: engine.node_containers(NODE), _one)


def _two(containers: list[dict[str, Any]]) -> bool:
    return len(containers) == 2


def _one(containers: list[dict[str, Any]]) -> bool:
    return len(containers) == 1 and bool(containers[0]["State"]["Running"])
