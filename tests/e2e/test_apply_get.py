"""The CLI against `shoal up`, every piece a real process: `shoal apply -f` a Deployment, and
`shoal get` reads it back through the API function; then scale and delete it.

There is no node agent here, so replicas stay pending (or unschedulable): that is enough to
see the deployments function and the scheduler act on what the CLI sent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shoal.platform.ports import free_port

from .conftest import shoal_command

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "ready; Ctrl-C stops everything"

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`shoal up` on free ports; the environment a CLI process needs to talk to it."""
    port, api_port = free_port(), free_port()
    log = tmp_path / "up.log"
    command = shoal_command(
        "up", "--data-dir", str(tmp_path / "data"), "--port", str(port), "--api-port", str(api_port)
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while READY_LINE not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"not ready in 60 s:\n{log.read_text()}"
            time.sleep(0.2)
        yield {
            **os.environ,
            "SHOAL_CONFIG": str(tmp_path / "no-config.yaml"),
            "SHOAL_BROKER_URL": f"http://127.0.0.1:{port}/default/default",
            "SHOAL_API_URL": f"http://127.0.0.1:{api_port}",
        }
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def shoal(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        shoal_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def eventually(
    read: Callable[[], Any], check: Callable[[Any], bool], log: Path, timeout: float = 30
) -> Any:
    """`read()` once `check` holds; else, after `timeout`, fail with the last value and the log."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            printed = log.read_text(errors="replace")
            pytest.fail(f"still {value!r} after {timeout:g} s; shoal up printed:\n{printed}")
        time.sleep(0.5)


def test_apply_then_get_scale_and_delete(cli_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "up.log"  # what the cli_env fixture's `shoal up` prints
    manifest = {
        "apiVersion": "shoal.dev/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "image": "127.0.0.1:5000/web:v1",
            "command": ["httpd", "-f", "-p", "$PORT"],
            "resources": {"cpu": "100m", "memory": "64Mi"},
            "ports": [{"name": "http"}],
        },
    }
    (tmp_path / "web.yaml").write_text(yaml.safe_dump(manifest))

    assert shoal(cli_env, "apply", "-f", str(tmp_path / "web.yaml")) == "deployment/web applied\n"

    def deployments() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(
            shoal(cli_env, "get", "deployments", "-o", "json")
        )["items"]
        return items

    (web,) = eventually(deployments, lambda items: len(items) == 1, log)
    assert (web["name"], web["replicas"], web["ready"], web["revision_number"]) == ("web", 2, 0, 1)
    assert web["manifest"] == manifest
    replicas = eventually(
        lambda: json.loads(shoal(cli_env, "get", "replicas", "--deployment", "web", "-o", "json")),
        lambda answer: len(answer["items"]) == 2,
        log,
    )["items"]
    assert {r["phase"] for r in replicas} <= {"pending", "unschedulable"}
    assert {(r["deployment"], r["revision"], r["node"]) for r in replicas} == {
        ("web", web["revision"], None)
    }
    table = shoal(cli_env, "get", "deployments").splitlines()
    assert table[1].split()[:3] == ["web", "0/2", "2"]

    assert (
        shoal(cli_env, "scale", "deployment", "web", "--replicas", "1") == "deployment/web scaled\n"
    )
    (web,) = eventually(deployments, lambda items: items[0]["replicas"] == 1, log)
    assert web["replicas"] == 1

    assert shoal(cli_env, "delete", "deployment", "web") == "deployment/web deleted\n"
    assert eventually(deployments, lambda items: items == [], log) == []
