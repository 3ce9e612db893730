"""Broker CPU per event, the figure a shared machine disturbs least, for A/B comparisons.

    .venv/bin/python benchmarks/broker_cpu.py [--seconds 8] [--triggers 1] [--fan-out]
        [--source DIR [--python PATH]] [--callgrind] [--log-writer process|thread]
        [--delivery process|inline]

Starts the lean subscriber (`_sink.py sink PORT lean`) and a broker with `--triggers` Triggers
(one matching the load, or all of them with `--fan-out`), warms it up, then posts with wrk for
`--seconds` (64 connections, `cloudevents.lua`) and waits until every accepted event was
delivered. It prints the broker's CPU per accepted event from /proc/<pid>/task/*/stat (user and
system, per thread: the event loop and the SQLite writer), the subscriber's, and the load
average, and whether the broker ran its compiled hot path (`SHOAL_NATIVE=0` before the
command runs the sources). `--source DIR` runs the broker from another checkout (e.g. `git
archive HEAD~3 | tar -x -C /tmp/old`), so two versions can be alternated in one sitting; the
compiled build is used only for a checkout whose local_broker matches it, so give that checkout
an interpreter of its own with `--python` (a copy of .venv without its shoal-native, in which
`python -m local_broker.native_build` was run from DIR).

`--callgrind` runs the broker under valgrind's callgrind and prints user-space instructions per
event (all threads, between two counter dumps around the load): unlike CPU time it does not
depend on what else runs, but it leaves out the kernel's share (about a fifth here). The broker
is some 50 times slower then, so use it for comparisons only.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local_broker import native  # noqa: E402
from shoal.platform.ports import free_port  # noqa: E402
from tests.e2e.conftest import wait_http_ok  # noqa: E402

WRK_SCRIPT = ROOT / "benchmarks" / "cloudevents.lua"
TICKS = os.sysconf("SC_CLK_TCK")
DRAIN_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Options:
    """The command line's options, as `main` parses them."""

    seconds: int
    triggers: int
    fan_out: bool
    source: str  # the checkout the broker runs from
    python: str  # the interpreter the broker runs on
    callgrind: bool
    log_writer: str | None  # the broker's --log-writer, when given
    delivery: str | None  # the broker's --delivery, when given


def thread_times(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) seconds of each thread of `pid` and of its child processes (the log's
    writer process), by 'name:tid'."""
    times = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        task = Path(f"/proc/{pid}/task/{tid}")
        stat = (task / "stat").read_text()
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        times[f"{name}:{tid}"] = (int(fields[11]) / TICKS, int(fields[12]) / TICKS)
        for child in (task / "children").read_text().split():
            times.update({f"child {key}": value for key, value in thread_times(int(child)).items()})
    return times


def delivered(sink: str) -> int:
    with urllib.request.urlopen(f"{sink}/count") as response:
        count: int = json.loads(response.read())["count"]
        return count


def wrk(url: str, seconds: int) -> int:
    """Events accepted (2xx) in `seconds` of wrk."""
    args = ["wrk", "-t1", "-c64", f"-d{seconds}s", "-s", str(WRK_SCRIPT), url]
    out = subprocess.run(
        args, check=False, capture_output=True, text=True, timeout=seconds + 60
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    requests, non_2xx, socket_errors = map(int, line.split()[1:])
    return requests - non_2xx - socket_errors


def manifests(path: Path, sink: str, triggers: int, fan_out: bool) -> None:
    def trigger(index: int) -> dict[str, object]:
        matching = index == 0 or fan_out
        return {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {"name": f"t{index}"},
            "spec": {
                "broker": "default",
                "filter": {"attributes": {"type": "dev.shoal.bench" if matching else f"x{index}"}},
                "subscriber": {"uri": f"{sink}/t{index}"},
            },
        }

    path.write_text(yaml.safe_dump_all([trigger(index) for index in range(triggers)]))


def dump_counters(pid: int) -> None:
    """callgrind writes its counters so far to a new file and starts again from zero."""
    subprocess.run(["callgrind_control", "-d", str(pid)], check=False, capture_output=True)
    time.sleep(1.0)


def callgrind_total(prefix: str) -> int:
    last = max(glob.glob(prefix + ".*"), key=os.path.getmtime)
    for line in Path(last).read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {last}")


def measure(options: Options, tmp: Path) -> None:
    python = sys.executable
    sink_port, broker_port = free_port(), free_port()
    sink = f"http://127.0.0.1:{sink_port}"
    sink_process = subprocess.Popen(
        [python, str(ROOT / "benchmarks" / "_sink.py"), "sink", str(sink_port), "lean"]
    )
    manifests(tmp / "triggers.yaml", sink, options.triggers, options.fan_out)
    command = [options.python, "-m", "shoal.cli.main", "broker"]
    command += ["--manifests", str(tmp / "triggers.yaml")]
    command += ["--port", str(broker_port), "--data-dir", str(tmp / "data")]
    command += ["--log-writer", options.log_writer] if options.log_writer else []
    command += ["--delivery", options.delivery] if options.delivery else []
    counters = str(tmp / "callgrind.out")
    if options.callgrind:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={counters}", *command]
    broker = subprocess.Popen(
        command, cwd=options.source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_http_ok(f"{sink}/stats", 20.0, sink_process)
        wait_http_ok(f"http://127.0.0.1:{broker_port}/readyz", 300.0, broker)
        url = f"http://127.0.0.1:{broker_port}/default/default"
        wrk(url, 2)  # warm-up: connections, caches
        time.sleep(2.0)
        if options.callgrind:
            dump_counters(broker.pid)
        before, count_before = thread_times(broker.pid), delivered(sink)
        sink_before = sum(sum(t) for t in thread_times(sink_process.pid).values())
        start = time.perf_counter()
        accepted = wrk(url, options.seconds)
        expected = accepted * (options.triggers if options.fan_out else 1)
        deadline = time.monotonic() + DRAIN_SECONDS
        while delivered(sink) - count_before < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        after = thread_times(broker.pid)
        sink_cpu = sum(sum(t) for t in thread_times(sink_process.pid).values()) - sink_before
        if options.callgrind:
            dump_counters(broker.pid)
        got = delivered(sink) - count_before
        load = os.getloadavg()[0]
        total = sum(sum(after[key]) - sum(before.get(key, (0.0, 0.0))) for key in after)
        print(
            f"{Path(options.source).name}: {accepted} events accepted, {got} of {expected} "
            f"deliveries seen, {accepted / elapsed:,.0f} events/s; broker CPU "
            f"{total / accepted * 1e6:.0f} us/event; subscriber {sink_cpu / max(got, 1) * 1e6:.0f}"
            f" us/delivery; load average {load:.1f}"
        )
        package = Path(options.source) / "local_broker"
        build = Path(options.python).parent.parent / native.BUILD_DIR.name
        print(f"    hot path: {native.check(build, package).describe()}")
        for key, (user_after, system_after) in after.items():
            user = user_after - before.get(key, (0.0, 0.0))[0]
            system = system_after - before.get(key, (0.0, 0.0))[1]
            if user + system > 0.05:
                print(
                    f"    thread {key}: user {user / accepted * 1e6:.0f}, "
                    f"system {system / accepted * 1e6:.0f} us/event"
                )
        if options.callgrind:
            instructions = callgrind_total(counters) / accepted
            print(f"    user-space instructions per event: {instructions:,.0f}")
    finally:
        broker.terminate()
        sink_process.terminate()
        broker.wait(timeout=120)
        sink_process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=8, help="wrk's duration")
    parser.add_argument("--triggers", type=int, default=1)
    parser.add_argument("--fan-out", action="store_true", help="every Trigger matches")
    parser.add_argument("--source", default=str(ROOT), help="checkout the broker runs from")
    parser.add_argument(
        "--python", default=sys.executable, help="the broker's interpreter (for --source)"
    )
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    parser.add_argument(
        "--log-writer",
        choices=("process", "thread"),
        help="the broker's --log-writer (leave it out for a checkout that has no such option)",
    )
    parser.add_argument(
        "--delivery",
        choices=("process", "inline"),
        help="the broker's --delivery (leave it out for a checkout that has no such option)",
    )
    args = parser.parse_args()
    options = Options(
        args.seconds,
        args.triggers,
        args.fan_out,
        args.source,
        args.python,
        args.callgrind,
        args.log_writer,
        args.delivery,
    )
    with tempfile.TemporaryDirectory() as tmp:
        measure(options, Path(tmp))


if __name__ == "__main__":
    main()
