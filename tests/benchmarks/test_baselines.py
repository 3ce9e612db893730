"""The benchmarks' baselines do the work their docs claim, so the ratios against them are fair.

- `benchmarks/floor_function.py` (the runtime's floor) records the event against redelivery,
  records its outbox and publishes it to K_SINK, and re-publishes the recorded event when the
  same (source, id) comes again; with FLOOR_PUBLISH=0 or FLOOR_STORE=0 (`runtime_parts.py`)
  it leaves out exactly that part, and FLOOR_STORE=dict keeps the same records in memory; its
  `floor_asgi`, served in functions-framework's ASGI mode, does the same;
- the bare relay of `benchmarks/_sink.py` (the broker's floor) forwards every event to the
  subscriber before it answers, on aiohttp and on the broker's own HTTP stack.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import flask
import functions_framework
import pytest

from benchmarks._load import budget_us
from benchmarks._servers import function_server
from shoal.platform.ports import free_port
from tests.e2e.conftest import wait_http_ok

ROOT = Path(__file__).resolve().parents[2]
HELPER = str(ROOT / "benchmarks" / "_sink.py")
BODY = b'{"replica": "web-1"}'


@contextmanager
def helper(*args: str) -> Iterator[str]:
    """`benchmarks/_sink.py KIND PORT ...` in a process of its own; yields its base URL."""
    kind, rest = args[0], args[1:]
    port = free_port()
    process = subprocess.Popen([sys.executable, HELPER, kind, str(port), *rest], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/{'stats' if kind == 'sink' else 'health'}", 20.0, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def received(sink: str) -> int:
    with urllib.request.urlopen(f"{sink}/stats", timeout=5) as response:
        return int(json.loads(response.read())["count"])


def binary_event(event_id: str) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/bench",
        "ce-type": "dev.shoal.bench",
        "Content-Type": "application/json",
    }


def post(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=BODY, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def serve_floor(sink: str, database: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Post e1, e2 and e1 again to the floor function; the statuses."""
    monkeypatch.setenv("K_SINK", f"{sink}/floor")
    monkeypatch.setenv("FLOOR_DB", str(database))
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")
    floor = str(ROOT / "benchmarks" / "floor_function.py")
    app: flask.Flask = functions_framework.create_app("floor", floor)
    client = app.test_client()
    return [
        client.post("/", headers=binary_event(event_id), data=BODY).status_code
        for event_id in ("e1", "e2", "e1")
    ]


def test_the_floor_records_publishes_and_republishes_a_redelivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with helper("sink", "lean") as sink:
        assert serve_floor(sink, tmp_path / "floor.db", monkeypatch) == [200, 200, 200]
        assert received(sink) == 3  # the redelivery of e1 is published again
    with sqlite3.connect(tmp_path / "floor.db") as db:
        assert sorted(db.execute("SELECT id FROM inbox")) == [("e1",), ("e2",)]
        outbox = dict(db.execute("SELECT id, events FROM outbox").fetchall())
    assert sorted(outbox) == ["e1", "e2"]
    assert json.loads(outbox["e1"])["id"] == "e1-1"


def test_the_asgi_floor_records_publishes_and_republishes_a_redelivery(tmp_path: Path) -> None:
    database = tmp_path / "floor.db"
    with helper("sink", "lean") as sink:
        env = {"K_SINK": f"{sink}/floor", "FLOOR_DB": str(database), "FUNCTION_USE_ASGI": "1"}
        with function_server(ROOT / "benchmarks" / "floor_function.py", "floor_asgi", env) as app:
            statuses = [post(app.url, binary_event(event_id)) for event_id in ("e1", "e2", "e1")]
        assert statuses == [200, 200, 200]
        assert received(sink) == 3
    with sqlite3.connect(database) as db:
        assert sorted(db.execute("SELECT id FROM inbox")) == [("e1",), ("e2",)]
        assert sorted(db.execute("SELECT id FROM outbox")) == [("e1",), ("e2",)]


@pytest.mark.parametrize(
    ("setting", "published", "recorded"),
    [
        ("FLOOR_PUBLISH=0", 0, [("e1",), ("e2",)]),
        ("FLOOR_STORE=0", 3, []),
        ("FLOOR_STORE=dict", 3, []),  # kept in memory: nothing in the file
    ],
)
def test_the_floor_leaves_out_the_part_switched_off(
    setting: str,
    published: int,
    recorded: list[tuple[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(*setting.split("="))
    with helper("sink", "lean") as sink:
        assert serve_floor(sink, tmp_path / "floor.db", monkeypatch) == [200, 200, 200]
        assert received(sink) == published
    with sqlite3.connect(tmp_path / "floor.db") as db:
        assert sorted(db.execute("SELECT id FROM inbox")) == recorded


@pytest.mark.parametrize(
    ("relay_stack", "sink_stack"),
    [([], []), (["lean"], ["lean"]), (["lean"], [])],
    ids=["aiohttp", "lean", "lean-relay-aiohttp-subscriber"],
)
def test_the_bare_relay_answers_only_after_the_subscriber_has_the_event(
    relay_stack: list[str], sink_stack: list[str]
) -> None:
    with (
        helper("sink", *sink_stack) as sink,
        helper("relay", *relay_stack, "--to", f"{sink}/r") as relay,
    ):
        for index in range(3):
            assert post(f"{relay}/", binary_event(f"r{index}")) == 202
            assert received(sink) == index + 1


def test_the_broker_cpu_budget_is_the_cores_time_per_event_less_wrk_and_the_subscriber() -> None:
    # At 0.5 of a 27,053 requests/s hop, two cores have 147.86 us per event; wrk and the
    # subscriber take 16 and 36 of them.
    assert budget_us(2, 0.5 * 27_053, 16.0, 36.0) == pytest.approx(95.86, abs=0.005)
    assert budget_us(1, 1_000_000.0) == pytest.approx(1.0)


@pytest.mark.parametrize("stack", [[], ["lean"]], ids=["aiohttp", "lean"])
def test_the_sink_counts_every_event_and_times_only_those_sent_with_benchsent(
    stack: list[str],
) -> None:
    with helper("sink", *stack) as sink:
        stamped = {"ce-knativearrivaltime": "2020-01-01T00:00:00.000001Z"}
        wrk_like = {**binary_event("wrk-like"), **stamped}
        assert post(f"{sink}/a", wrk_like) == 202  # counted only
        sent = time.time_ns() - 2_000_000  # sent 2 ms ago
        timed = {**binary_event("paced"), **stamped, "ce-benchsent": str(sent)}
        assert post(f"{sink}/a", timed) == 202
        with urllib.request.urlopen(f"{sink}/count", timeout=5) as response:
            assert json.loads(response.read()) == {"count": 2}
        with urllib.request.urlopen(f"{sink}/stats", timeout=5) as response:
            stats = json.loads(response.read())
    assert stats["count"] == 2
    assert len(stats["latencies"]) == 1
    assert 0.002 <= stats["latencies"][0] < 5.0
    assert len(stats["ingress_latencies"]) == 1
    assert stats["ingress_latencies"][0] > 365 * 86400  # since 2020
