"""Whole-system helpers: real `shoal` processes on free loopback ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from shoal.cli.main import main
from shoal.platform.harness import RunningPlatform, running_platform
from shoal.platform.ports import free_port
from tests.local_broker.conftest import trigger


def cli_send(broker_url: str, *args: str) -> int:
    """`shoal send --broker URL ARGS...`, in this process; its exit code."""
    return main(["send", "--broker", broker_url, *args])


def broker_args(manifests: Path, port: int, data_dir: Path) -> list[str]:
    """`shoal broker` on 127.0.0.1:`port` with `manifests`, its log in `data_dir`."""
    return [
        "broker",
        "--manifests",
        str(manifests),
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]


def wait_http_ok(
    url: str,
    timeout: float = 15.0,
    process: subprocess.Popen[bytes] | None = None,
    *,
    answering: bool = False,
) -> None:
    """Until `url` answers 200, or with `answering` any HTTP status at all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before {url} was up")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200 or answering:
                    return
        except urllib.error.HTTPError:
            if answering:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer {'' if answering else '200 '}within {timeout} s")


def shoal_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shoal.cli.main", *args]


@contextmanager
def shoal_process(args: Sequence[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            shoal_command(*args), stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def exec_platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    """`shoal up --driver exec` on free ports, its state in tmp_path/data."""
    root = Path(__file__).resolve().parents[2]
    with running_platform(tmp_path / "data", root=root, up_args=["--driver", "exec"]) as running:
        yield running


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    """A `shoal broker` process whose one Trigger (type dev.shoal.undeliverable) dead-letters
    at once; its default/default ingress URL."""
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
    args = broker_args(manifests, port, tmp_path / "data")
    with shoal_process(args, tmp_path / "broker.log") as process:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 15.0, process)
        yield f"http://127.0.0.1:{port}/default/default"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
