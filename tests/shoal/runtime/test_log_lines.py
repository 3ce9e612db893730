"""Every line a served function's process logs is one JSON object, whoever logs it.

Real `functions-framework` processes (gunicorn, as on Knative), their stdout and stderr read
line by line. Before, only `shoal.functions` records were JSON: psycopg_pool's warnings came
out as plain text, Flask's "Exception on /" as a multi-line traceback.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from .serving import HOSTILE, STRUCTURED, structured

DEEP = b"[" * 100_000 + b"]" * 100_000


class Served:
    """One functions-framework process serving `target` from the hostile functions."""

    def __init__(self, target: str, tmp_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.output = tmp_path / f"{target}.log"
        env = {name: value for name, value in os.environ.items() if name != "K_SINK"}
        env.update(SHOAL_STATE_URL=f"sqlite:///{tmp_path / 'state.db'}", PYTHONUNBUFFERED="1")
        with self.output.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "functions_framework", "--source", str(HOSTILE)),
                    *("--target", target, "--host", "127.0.0.1", "--port", str(self.port)),
                ],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            assert time.monotonic() < deadline, self.output.read_text()
            time.sleep(0.05)

    def request(
        self, method: str, path: str, headers: Mapping[str, str | bytes], body: bytes = b""
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest(method, path)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                connection.putheader(name, value)  # bytes go out as they are
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def stop(self) -> list[str]:
        """Stop the process; the lines it wrote."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        return self.output.read_text(errors="replace").splitlines()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[Served]]:
    processes: list[Served] = []
    yield processes
    for process in processes:
        if process.process.poll() is None:
            process.stop()


def json_lines(lines: list[str]) -> list[dict[str, object]]:
    """Every line as JSON; fails naming the first line that is not one JSON object."""
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line that is not JSON: {line!r}")
    return parsed


def test_library_warnings_and_flask_tracebacks_are_json_lines(
    tmp_path: Path, served: list[Served]
) -> None:
    served.append(api := Served("leaky_api", tmp_path))

    warned = api.request("GET", "/warn", {})
    crashed = api.request("GET", "/crash", {})
    lines = json_lines(api.stop())

    assert (warned[0], crashed[0]) == (200, 500)
    (warning,) = [line for line in lines if line.get("logger") == "psycopg.pool"]
    assert (warning["level"], warning["message"]) == (
        "warning",
        "discarding closed connection:\n\tsecond line",
    )
    (flask_error,) = [line for line in lines if "exception" in line]
    assert flask_error["level"] == "error"
    assert str(flask_error["message"]).startswith("Exception on /crash [GET]")
    assert "TypeError: The view function" in str(flask_error["exception"])


def test_a_served_function_refuses_what_it_cannot_read_in_json_lines_only(
    tmp_path: Path, served: list[Served]
) -> None:
    served.append(function := Served("count_runs", tmp_path))
    ce = {"ce-specversion": "1.0", "ce-source": "/tests", "ce-type": "dev.shoal.test.hostile"}
    as_json = {**ce, "Content-Type": "application/json"}

    deep = function.request("POST", "/", {**as_json, "ce-id": "deep"}, DEEP)
    not_utf8 = function.request("POST", "/", {**as_json, "ce-id": b"\xe9"}, b"{}")
    raw_utf8 = function.request("POST", "/", {**as_json, "ce-id": "é".encode()}, b"{}")
    same = function.request("POST", "/", STRUCTURED, structured(id="é", source="/tests"))
    lines = json_lines(function.stop())

    assert (deep[0], not_utf8[0]) == (400, 400)
    assert json.loads(deep[1])["error"] == "the event's data nests JSON too deeply to read"
    assert "header ce-id is not UTF-8" in json.loads(not_utf8[1])["error"]
    assert (raw_utf8[0], same[0]) == (200, 200)
    refusals = [line for line in lines if line["message"] == "not a CloudEvent, refused"]
    assert len(refusals) == 2
    (redelivered,) = [line for line in lines if str(line["message"]).startswith("redelivered")]
    assert redelivered["event_id"] == "é"  # raw UTF-8 bytes and structured mode: one event


CONFIGURED = """
import logging, sys, warnings
gunicorn = logging.getLogger("gunicorn.error")
gunicorn.addHandler(logging.StreamHandler(sys.stderr))  # as gunicorn's own, before the app
gunicorn.propagate = False
from shoal.runtime.logs import configure_logging
configure_logging()
configure_logging()  # idempotent: still one line per record
gunicorn.error("worker failed:\\nsecond line")
logging.getLogger("psycopg.pool").warning("odd text: %s", "\\u2028\\x85\\ud800")
warnings.warn("deprecated\\nthing")
try:
    raise ValueError("no good")
except ValueError:
    logging.getLogger("some.library").exception("it failed")
"""


def test_after_configure_logging_every_record_of_the_process_is_one_json_line() -> None:
    run = subprocess.run(
        [sys.executable, "-c", CONFIGURED], capture_output=True, text=True, check=True
    )

    lines = json_lines(run.stderr.splitlines())  # splitlines: U+2028 and U+0085 break too
    assert run.stdout == ""
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("gunicorn.error", "worker failed:\nsecond line"),
        ("psycopg.pool", "odd text: \u2028\x85\ud800"),
        ("py.warnings", lines[2]["message"]),
        ("some.library", "it failed"),
    ]
    assert "UserWarning: deprecated\nthing" in str(lines[2]["message"])
    assert "ValueError: no good" in str(lines[3]["exception"])
