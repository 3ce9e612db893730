"""What threads cost a Shoal invocation, in-process: the same work on 1 thread and on N.

    .venv/bin/python benchmarks/runtime_threads.py [--threads 8] [--invocations 3000] [--runs 3]

No HTTP server and no load generator: each part of an invocation is called in a loop from
1 thread, then from `--threads` threads sharing the work, and the process's CPU time (all
threads, user + system, `getrusage`) is divided by the invocations. Parts: the whole
`Invoker.handle` of the trivial benchmark function (SQLite, publishing to a sink in a process
of its own); the same without the publish; the state transaction alone (claim, one read,
outbox record, commit, with no Python work in between), and the same after a parse (Python
work outside the writer lock); the publish alone; the parse alone;
and the hand-written floor (`benchmarks/floor_function.py`) for comparison. Each figure is the
median of `--runs` runs. What rises from 1 thread to N is contention: GIL hand-overs and the
writer lock. The loop is bounded by `--invocations` per run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._servers import sink_server  # noqa: E402
from benchmarks.runtime import BODY, SHOAL_SOURCE  # noqa: E402
from benchmarks.runtime_breakdown import headers  # noqa: E402
from shoal.runtime import FunctionSpec  # noqa: E402
from shoal.runtime.discovery import load_module_functions  # noqa: E402
from shoal.runtime.invoke import Invoker  # noqa: E402
from shoal.runtime.publisher import HttpPublisher  # noqa: E402
from shoal.runtime.wire import parse_request  # noqa: E402
from shoal.state import StateStore, open_store  # noqa: E402

Part = Callable[[Mapping[str, str]], object]


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_per_call(part: Part, threads: int, invocations: int) -> float:
    """Microseconds of process CPU per call, `invocations` calls spread over `threads`."""
    share = invocations // threads
    batches = [[lowered(headers()) for _ in range(share)] for _ in range(threads)]

    def work(batch: Sequence[Mapping[str, str]]) -> None:
        for request in batch:
            part(request)

    workers = [threading.Thread(target=work, args=(batch,)) for batch in batches]
    start = process_cpu()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (process_cpu() - start) / (share * threads) * 1e6


def lowered(request: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in request.items()}


class NullPublisher:
    def publish(self, events: Sequence[Mapping[str, object]]) -> None:
        pass


class FloorRequest:
    method = "POST"

    def __init__(self, request: Mapping[str, str]) -> None:
        self.headers = request


def floor_part(folder: Path, sink: str) -> Part:
    os.environ.update(K_SINK=sink, FLOOR_DB=str(folder / "floor.db"))
    spec = importlib.util.spec_from_file_location("floor", ROOT / "benchmarks/floor_function.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    floor: Callable[[FloorRequest], str] = module.floor  # a module loaded from a file is untyped
    return lambda request: floor(FloorRequest(request))


def transaction_part(store: StateStore) -> Part:
    outbox = [{"specversion": "1.0", "id": "x", "source": "/shoal/trivial", "type": "t"}]

    def run(request: Mapping[str, str]) -> None:
        with store.transaction() as tx:
            tx.inbox_claim("trivial", "/bench", request["ce-id"])
            tx.get("BenchNode", "n1")
            tx.outbox_put("trivial", "/bench", request["ce-id"], outbox)

    return run


def parse_then_transaction_part(store: StateStore) -> Part:
    transaction = transaction_part(store)

    def run(request: Mapping[str, str]) -> None:
        parse_request(request, BODY)  # Python work outside the writer lock
        transaction(request)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--invocations", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sink_server("lean") as sink:
        folder = Path(tmp)
        (folder / "trivial.py").write_text(SHOAL_SOURCE)
        (spec,) = load_module_functions(folder / "trivial.py")
        assert isinstance(spec, FunctionSpec)
        served = Invoker(spec, open_store(f"sqlite:///{folder / 'a.db'}"), HttpPublisher(sink.url))
        unpublished = Invoker(spec, open_store(f"sqlite:///{folder / 'b.db'}"), NullPublisher())
        publisher = HttpPublisher(sink.url)
        event = [{"specversion": "1.0", "id": "x", "source": "/s", "type": "t"}]
        parts: dict[str, Part] = {
            "Invoker.handle (parse, transaction, publish)": lambda r: served.handle(r, BODY),
            "Invoker.handle without the publish": lambda r: unpublished.handle(r, BODY),
            "the transaction alone (no Python work inside)": transaction_part(
                open_store(f"sqlite:///{folder / 'c.db'}")
            ),
            "a parse, then the same transaction": parse_then_transaction_part(
                open_store(f"sqlite:///{folder / 'd.db'}")
            ),
            "the publish alone": lambda _r: publisher.publish(event),
            "the parse alone": lambda r: parse_request(r, BODY),
            "floor (benchmarks/floor_function.py)": floor_part(folder, sink.url),
        }
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in parts}
        for part in parts.values():
            cpu_per_call(part, 1, min(300, args.invocations))  # warm up
        for _run in range(args.runs):
            for name, part in parts.items():
                one = cpu_per_call(part, 1, args.invocations)
                many = cpu_per_call(part, args.threads, args.invocations)
                figures[name].append((one, many))
    print(f"load average {os.getloadavg()[0]:.2f}; process CPU per call, median of {args.runs}\n")
    print(f"| {'part':<46} | 1 thread | {args.threads} threads | added |")
    print(f"|{'-' * 48}|----------|-----------|-------|")
    for name, runs in figures.items():
        one = statistics.median(figure[0] for figure in runs)
        many = statistics.median(figure[1] for figure in runs)
        print(f"| {name:<46} | {one:5.0f} us | {many:6.0f} us | {many - one:+4.0f} |")


if __name__ == "__main__":
    main()
