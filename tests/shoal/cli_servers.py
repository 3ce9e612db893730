"""Real servers for the CLI tests: a `shoal broker` process, and the API function served by
`functions-framework` as `shoal up` and Knative run it; both on free loopback ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shoal.platform.ports import free_port
from tests.e2e.conftest import shoal_process, wait_http_ok

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"


@contextmanager
def running_broker(tmp_path: Path) -> Iterator[str]:
    """A `shoal broker` without Triggers; yields its ingress URL (default/default)."""
    port = free_port()
    args = ["broker", "--port", str(port), "--data-dir", str(tmp_path / "broker")]
    with shoal_process(args, tmp_path / "broker.log") as process:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 15.0, process)
        yield f"http://127.0.0.1:{port}/default/default"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def logged_events(broker_url: str) -> list[dict[str, Any]]:
    """Every event the broker logged, in order (JSON format, data decoded)."""
    base = broker_url.rsplit("/", 2)[0]
    url = f"{base}/-/events?broker=default/default&after=0&limit=1000"
    with urllib.request.urlopen(url, timeout=10) as response:
        return [entry["event"] for entry in json.load(response)["events"]]


@contextmanager
def running_api(tmp_path: Path, state_url: str) -> Iterator[str]:
    """functions/api.py under functions-framework, reading `state_url`; yields its URL."""
    port = free_port()
    env = {**os.environ, "SHOAL_STATE_URL": state_url, "PYTHONUNBUFFERED": "1"}
    command = [
        str(FUNCTIONS_FRAMEWORK),
        "--source",
        str(ROOT / "functions" / "api.py"),
        "--target",
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with (tmp_path / "api.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/", 30.0, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
