"""The processes the runtime benchmarks measure: functions-framework servers, the sink, a
PostgreSQL schema, and the CPU time of a process session from /proc.

Used by `runtime.py`, `runtime_breakdown.py` and `runtime_threads.py`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shoal.platform.ports import free_port  # noqa: E402
from tests.e2e.conftest import wait_http_ok  # noqa: E402

FUNCTIONS_FRAMEWORK = str(Path(sys.executable).parent / "functions-framework")
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _session_stats(session: int) -> Iterator[tuple[Path, list[str]]]:
    """(/proc/<pid>, the fields of its stat after the name) of each live process in `session`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[3]) == session:  # fields[0] is the state; the session id is the 6th field
            yield entry, fields


def session_cpu(session: int) -> float:
    """CPU seconds (user + system) of the live processes in `session`."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _entry, fields in _session_stats(session))
    return ticks / CLOCK_TICKS


def session_context_switches(session: int) -> int:
    """Voluntary context switches of every thread of the live processes in `session`."""
    total = 0
    for entry, _fields in _session_stats(session):
        with contextlib.suppress(OSError):  # exited meanwhile
            for task in (entry / "task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
    return total


@contextmanager
def function_server(source: Path, target: str, env: Mapping[str, str]) -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen(
        [FUNCTIONS_FRAMEWORK, "--source", str(source), "--target", target],
        env={**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"},
        cwd=ROOT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http_ok(url, 30, process, answering=True)  # a CloudEvent function 4xx's a GET
        yield Server(url, process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True)
class Server:
    url: str
    session: int  # started in a session of its own: every process of it

    def cpu(self) -> float:
        return session_cpu(self.session)


@contextmanager
def sink_server(kind: str) -> Iterator[Server]:
    port = free_port()
    lean = ["lean"] if kind == "lean" else []
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_sink.py"), "bare", str(port), *lean],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process=process)
        yield Server(f"http://127.0.0.1:{port}/", process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def postgres_schema() -> Iterator[str]:
    schema = f"shoal_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
