"""Where a Shoal invocation's CPU goes, measured in-process on one thread (no load generator).

    .venv/bin/python benchmarks/runtime_breakdown.py [--invocations 3000]

Each line is CPU time per operation (`time.thread_time`, so other processes on the machine do
not count, though they still slow caches down), the median of 3 runs of `--invocations`:
a request to a do-nothing functions-framework function and to the trivial Shoal function
(both through functions-framework's Flask app and Werkzeug's test client), then the parts of
the Shoal invocation apart: parsing, the state transaction (SQLite and PostgreSQL), building
the outbox, and publishing one event to a sink (the local broker's HTTP server in a process of
its own) with Shoal's client and, for comparison, with `http.client`.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import functions_framework  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from benchmarks._servers import postgres_schema, sink_server  # noqa: E402
from benchmarks.runtime import BARE_SOURCE, BODY, SHOAL_SOURCE  # noqa: E402
from shoal.runtime import FunctionSpec  # noqa: E402
from shoal.runtime.discovery import load_module_functions  # noqa: E402
from shoal.runtime.event import Emit  # noqa: E402
from shoal.runtime.invoke import Invoker  # noqa: E402
from shoal.runtime.outbox import build_outbox  # noqa: E402
from shoal.runtime.publisher import HttpPublisher  # noqa: E402
from shoal.runtime.wire import encode_event, parse_request, parse_with_sdk  # noqa: E402
from shoal.state import StateStore, open_store  # noqa: E402


def headers() -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-source": "/bench",
        "ce-type": "dev.shoal.bench",
        "ce-subject": "web-1",
        "Content-Type": "application/json",
    }


def cpu_per_call(operation: Callable[[int], object], count: int) -> float:
    """Median over 3 runs of the CPU milliseconds per `operation(i)`, after a warm-up."""
    for index in range(min(200, count)):
        operation(index)
    runs = []
    for _ in range(3):
        start = time.thread_time()
        for index in range(count):
            operation(index)
        runs.append((time.thread_time() - start) / count * 1e3)
    return statistics.median(runs)


def post_with(client: FlaskClient) -> Callable[[int], object]:
    return lambda _index: client.post("/", headers=headers(), data=BODY)


class NullPublisher:
    def publish(self, events: Sequence[Mapping[str, object]]) -> None:
        pass


def transaction_only(store: StateStore) -> Callable[[int], object]:
    outbox = [{"specversion": "1.0", "id": "x", "source": "/shoal/trivial", "type": "t"}]

    def run(_index: int) -> None:
        event_id = str(uuid.uuid4())
        with store.transaction() as tx:
            tx.inbox_claim("trivial", "/bench", event_id)
            tx.get("BenchNode", "n1")
            tx.outbox_put("trivial", "/bench", event_id, outbox)

    return run


def http_client_publish(sink: str) -> Callable[[int], object]:
    connection = http.client.HTTPConnection(sink.split("/")[2])

    def run(_index: int) -> None:
        body = encode_event({"specversion": "1.0", "id": "x", "source": "/s", "type": "t"})
        connection.request("POST", "/", body, {"Content-Type": "application/cloudevents+json"})
        connection.getresponse().read()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invocations", type=int, default=3000)
    count: int = parser.parse_args().invocations
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, sink_server("lean") as sink, postgres_schema() as pg:
        folder = Path(tmp)
        (folder / "bare.py").write_text(BARE_SOURCE)
        (folder / "trivial.py").write_text(SHOAL_SOURCE)
        os.environ.update(
            FUNCTION_SIGNATURE_TYPE="http",
            K_SINK=sink.url,
            SHOAL_STATE_URL=f"sqlite:///{folder / 'served.db'}",
        )
        for name in ("bare", "trivial"):
            # functions-framework's create_app has no annotations; it returns the Flask app.
            app: Flask = functions_framework.create_app(  # type: ignore[no-untyped-call]
                name, str(folder / f"{name}.py")
            )
            rows.append(
                (
                    f"functions-framework request, {name} function (Flask test client)",
                    cpu_per_call(post_with(app.test_client()), count),
                )
            )
        (spec,) = load_module_functions(folder / "trivial.py")
        assert isinstance(spec, FunctionSpec)
        event = parse_request(headers(), BODY)
        emitted = [Emit("dev.shoal.bench.done", subject="web-1", data={"ok": True})]
        now = datetime.now(UTC)
        sqlite = open_store(f"sqlite:///{folder / 'state.db'}")
        postgres = open_store(pg)
        core_sqlite = Invoker(spec, sqlite, NullPublisher())
        core_postgres = Invoker(spec, postgres, NullPublisher())
        publisher = HttpPublisher(sink.url)
        outbox = build_outbox("trivial", "/shoal/trivial", event, emitted, now)
        rows += [
            (
                "parse, binary mode (Shoal's hot path)",
                cpu_per_call(lambda _i: parse_request(headers(), BODY), count),
            ),
            (
                "parse, binary mode (cloudevents SDK)",
                cpu_per_call(lambda _i: parse_with_sdk(headers(), BODY), count),
            ),
            (
                "invocation core without HTTP, SQLite (parse .. commit)",
                cpu_per_call(lambda _i: core_sqlite.handle(headers(), BODY), count),
            ),
            (
                "invocation core without HTTP, PostgreSQL",
                cpu_per_call(lambda _i: core_postgres.handle(headers(), BODY), count),
            ),
            (
                "of which the transaction alone, SQLite",
                cpu_per_call(transaction_only(sqlite), count),
            ),
            (
                "of which the transaction alone, PostgreSQL",
                cpu_per_call(transaction_only(postgres), count),
            ),
            (
                "of which building the outbox (ids, time, JSON)",
                cpu_per_call(
                    lambda _i: build_outbox("trivial", "/shoal/trivial", event, emitted, now), count
                ),
            ),
            (
                "publish one event (Shoal's client, kept alive)",
                cpu_per_call(lambda _i: publisher.publish(outbox), count),
            ),
            (
                "publish one event (http.client, kept alive)",
                cpu_per_call(http_client_publish(sink.url), count),
            ),
        ]
        sqlite.close()
        postgres.close()
    print(f"load average {os.getloadavg()[0]:.2f}; CPU per operation, median of 3 x {count}\n")
    print(f"| {'operation':<62} | {'CPU':>8} |")
    print(f"|{'-' * 64}|{'-' * 10}|")
    for name, milliseconds in rows:
        print(f"| {name:<62} | {milliseconds:>5.3f} ms |")


if __name__ == "__main__":
    main()
