"""Orchestration at scale on the local platform, with simulated nodes: placement throughput and
node failover, measured from the broker's event log.

    .venv/bin/python benchmarks/orchestration.py [--nodes 1000] [--replicas 10000]
        [--failover-replicas 100] [--heartbeat-interval 1] [--timeout 600]

What runs: `shoal up` (the broker, every function in a process of its own, SQLite state) and
two sim agents (`shoal agent --driver sim`): `solo`, one node in a process of its own, and
`bulk`, the other nodes in one process. Then, each phase bounded by `--timeout`:

1. setup: a deployment `failover` of `--failover-replicas` is applied while `solo` is the only
   node, so all of them run there; then `bulk` starts and every node joins;
2. throughput: a deployment `bench` of `--replicas`, with `nodeSelector: {pool: bulk}` (so
   `solo` keeps exactly its replicas), is applied. Measured: from just before the apply is
   posted to the arrival at the broker of the last `replica.started` of `bench`, and replicas/s
   over that time. The log gives the stages in between (`replica.requested` from deployments,
   `replica.scheduled` from the scheduler); then the wait until the control plane has caught
   up with the events the burst left (deployments counts every replica ready, audit recorded
   the last `replica.started`), so the failover is measured on a settled cluster;
3. failover: `solo`'s agent process is SIGKILLed. Measured: from the kill to the arrival of the
   last `replica.started` of the replicas that replace its own, with the stages in between
   (`node.lost`, `replica.lost` from nodes, `replica.requested`, `replica.scheduled`).

The node-loss grace is `--heartbeat-interval` x `--missed-heartbeats` (given to the agents and,
as SHOAL_NODE_HEARTBEAT_INTERVAL and SHOAL_NODE_MISSED_HEARTBEATS, to the nodes function).
Loopback only; a temporary data folder unless `--keep DIR`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks._probes import CpuMeter, StateProbe, cpu_between  # noqa: E402
from shoal import events  # noqa: E402
from shoal.platform.eventlog import (  # noqa: E402
    EventLogReader,
    LoggedEvent,
    news_of,
    replica_history,
)
from shoal.platform.harness import (  # noqa: E402
    RunningPlatform,
    post_event,
    running_agent,
    running_platform,
)

POLL_SECONDS = 0.5
REPLICA_EVENTS = (
    events.REPLICA_REQUESTED,
    events.REPLICA_SCHEDULED,
    events.REPLICA_STARTED,
    events.REPLICA_STOP_REQUESTED,
    events.REPLICA_STOPPED,
    events.REPLICA_EXITED,
    events.REPLICA_LOST,
)


@dataclass(frozen=True, slots=True)
class Settings:
    nodes: int
    replicas: int
    failover_replicas: int
    heartbeat_interval: float
    missed_heartbeats: int
    timeout: float
    keep: Path | None
    echo: bool

    @property
    def grace(self) -> float:
        return self.heartbeat_interval * self.missed_heartbeats


@dataclass(frozen=True, slots=True)
class Row:
    measure: str
    value: str
    note: str = ""


class PhaseTimeoutError(Exception):
    """A phase did not finish within --timeout."""


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description="Orchestration throughput and failover.")
    parser.add_argument("--nodes", type=int, default=1000, help="nodes in all (default 1000)")
    parser.add_argument("--replicas", type=int, default=10_000, help="of the throughput phase")
    parser.add_argument("--failover-replicas", type=int, default=100, help="on the killed node")
    parser.add_argument("--heartbeat-interval", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--missed-heartbeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0, help="per phase (seconds)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the data folder here")
    parser.add_argument("--echo", action="store_true", help="show the processes' output")
    args = parser.parse_args(argv)
    if args.nodes < 2 or args.replicas < 1 or args.failover_replicas < 1:
        parser.error("--nodes must be at least 2 and the replica counts at least 1")
    return Settings(
        nodes=args.nodes,
        replicas=args.replicas,
        failover_replicas=args.failover_replicas,
        heartbeat_interval=args.heartbeat_interval,
        missed_heartbeats=args.missed_heartbeats,
        timeout=args.timeout,
        keep=args.keep,
        echo=args.echo,
    )


def deployment(name: str, replicas: int, selector: dict[str, str] | None) -> dict[str, object]:
    spec: dict[str, object] = {
        "replicas": replicas,
        "image": f"127.0.0.1:5000/{name}:v1",
        "resources": {"cpu": "10m", "memory": "16Mi"},
    }
    if selector:
        spec["constraints"] = {"nodeSelector": selector}
    return {
        "apiVersion": "shoal.dev/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def apply(platform: RunningPlatform, document: dict[str, object]) -> None:
    post_event(platform.ingress, events.DEPLOYMENT_APPLIED, {"manifest": document})


def wait_for(what: str, timeout: float, done: Callable[[], bool]) -> float:
    """Seconds until `done()`; PhaseTimeoutError after `timeout`."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise PhaseTimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def of(logged: Sequence[LoggedEvent], event_type: str, name: str) -> list[LoggedEvent]:
    """The events of `event_type` about deployment `name` (listing at least one of its replicas)."""
    return [
        e
        for e in logged
        if e.type == event_type and (e.data.get("deployment") == name or news_of(e, name))
    ]


def replicas_in(logged: Sequence[LoggedEvent], name: str) -> int:
    """How many replicas of `name` the events list, all together."""
    return sum(len(news_of(event, name)) for event in logged)


def started(reader: EventLogReader, name: str) -> set[str]:
    reader.read([events.REPLICA_STARTED])
    logged = of(reader.events([events.REPLICA_STARTED]), events.REPLICA_STARTED, name)
    return {str(entry["replica"]) for event in logged for entry in news_of(event, name)}


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def span(first: LoggedEvent, last: LoggedEvent, since: float) -> str:
    """When the first and the last of some events arrived, in seconds after `since`."""
    return f"{first.arrival - since:.2f} / {last.arrival - since:.2f} s"


@dataclass(frozen=True, slots=True)
class Bench:
    """What every phase uses: the platform, how to observe it, and the figures so far."""

    settings: Settings
    platform: RunningPlatform
    reader: EventLogReader
    probe: StateProbe
    cpu: CpuMeter
    rows: list[Row]


def setup(bench: Bench, stack: ExitStack) -> None:
    """`failover` onto `solo` alone, then the bulk nodes, left running in `stack`."""
    platform, reader, settings, cpu = bench.platform, bench.reader, bench.settings, bench.cpu
    apply(platform, deployment("failover", settings.failover_replicas, None))
    on_solo = wait_for(
        "the failover deployment running on solo",
        settings.timeout,
        lambda: len(started(reader, "failover")) >= settings.failover_replicas,
    )
    bulk = settings.nodes - 1
    begun = time.monotonic()
    bulk_agent = stack.enter_context(
        running_agent(
            platform,
            "bulk",
            nodes=bulk,
            labels={"pool": "bulk"},
            heartbeat_interval=settings.heartbeat_interval,
            ready_timeout=settings.timeout,
        )
    )

    cpu.roots[bulk_agent.process.pid] = "agent bulk"

    def all_joined() -> bool:
        reader.read([events.NODE_JOINED])
        return len({e.subject for e in reader.events([events.NODE_JOINED])}) >= settings.nodes

    wait_for("every node joined", settings.timeout, all_joined)
    bench.rows.extend(
        [
            Row(f"setup: {settings.failover_replicas} replicas running on solo", seconds(on_solo)),
            Row(f"setup: {bulk} bulk nodes joined", seconds(time.monotonic() - begun)),
        ]
    )


def throughput(bench: Bench) -> None:
    platform, reader, probe, cpu = bench.platform, bench.reader, bench.probe, bench.cpu
    settings, rows = bench.settings, bench.rows
    name, count = "bench", settings.replicas
    cpu_at_apply = cpu.used()
    applied_at = time.time()
    apply(platform, deployment(name, count, {"pool": "bulk"}))
    wait_for(
        f"{count} replicas of {name} running",
        settings.timeout,
        lambda: len(started(reader, name)) >= count,
    )
    cpu_at_running = cpu.used()
    reader.read(REPLICA_EVENTS)
    logged = reader.events(REPLICA_EVENTS)
    requested = of(logged, events.REPLICA_REQUESTED, name)
    scheduled = of(logged, events.REPLICA_SCHEDULED, name)
    up = of(logged, events.REPLICA_STARTED, name)
    total = max(event.arrival for event in up) - applied_at
    rows += [
        Row("apply -> all running", seconds(total), f"{count} replicas"),
        Row("replicas/s end to end", f"{count / total:,.0f}", "target >= 1,000"),
        Row(
            "  apply -> last replica.requested",
            seconds(requested[-1].arrival - applied_at),
            f"deployments: {len(requested)} event(s)",
        ),
        Row(
            "  apply -> first replica.scheduled",
            seconds(scheduled[0].arrival - applied_at),
            "scheduler",
        ),
        Row(
            "  apply -> last replica.scheduled",
            seconds(scheduled[-1].arrival - applied_at),
            f"{len(scheduled)} events for {replicas_in(scheduled, name)} replicas",
        ),
        Row(
            "  apply -> first replica.started",
            seconds(up[0].arrival - applied_at),
            f"agents: {len(up)} events for {replicas_in(up, name)} replicas",
        ),
        Row(
            "CPU s, apply -> all running",
            f"{sum(cpu_at_running.values()) - sum(cpu_at_apply.values()):.0f} s",
            cpu_between(cpu_at_apply, cpu_at_running),
        ),
    ]
    last = max(up, key=lambda event: event.arrival)
    wait_for(
        "the control plane catching up with the burst",
        settings.timeout,
        lambda: probe.ready(name) >= count and probe.audited(last),
    )
    cpu_at_caught_up = cpu.used()
    rows += [
        Row(
            "apply -> control plane caught up",
            f"{time.time() - applied_at:.1f} s",
            "deployments counts all ready, audit recorded the last started",
        ),
        Row(
            "CPU s, all running -> caught up",
            f"{sum(cpu_at_caught_up.values()) - sum(cpu_at_running.values()):.0f} s",
            cpu_between(cpu_at_running, cpu_at_caught_up),
        ),
    ]
    wait_for(
        "nodes catching up with the heartbeats",
        settings.timeout,
        lambda: probe.heartbeat_lag() <= settings.heartbeat_interval + 1.0,
    )
    rows.append(
        Row(
            "apply -> nodes caught up with the heartbeats",
            f"{time.time() - applied_at:.1f} s",
            "the failover below starts then",
        )
    )


def failover(bench: Bench, kill: Callable[[], float]) -> None:
    reader, settings = bench.reader, bench.settings
    name, node = "failover", "solo"
    reader.read(REPLICA_EVENTS)
    before = {r.name for r in replica_history(reader.events(REPLICA_EVENTS), name)[-1].replicas}
    killed_at = kill()

    def replaced() -> bool:
        reader.read(REPLICA_EVENTS)
        now = replica_history(reader.events(REPLICA_EVENTS), name)[-1].replicas
        return len(now) == settings.failover_replicas and all(
            r.phase == "running" and r.name not in before for r in now
        )

    wait_for(f"the replicas of {node} replaced", settings.timeout, replaced)
    node_events = [events.NODE_LOST, events.NODE_NOT_READY]
    reader.read(node_events)
    logged = [e for e in reader.events([*REPLICA_EVENTS, *node_events]) if e.arrival >= killed_at]
    lost_node = [e for e in logged if e.type == events.NODE_LOST and e.subject == node]
    lost = of(logged, events.REPLICA_LOST, name)
    requested = of(logged, events.REPLICA_REQUESTED, name)
    scheduled = of(logged, events.REPLICA_SCHEDULED, name)
    up = [
        e
        for e in of(logged, events.REPLICA_STARTED, name)
        if any(entry["replica"] not in before for entry in news_of(e, name))
    ]
    total = max(event.arrival for event in up) - killed_at
    others = len([e for e in logged if e.type == events.NODE_LOST and e.subject != node])
    silent = len([e for e in reader.events([events.NODE_NOT_READY]) if e.subject != node])
    bench.rows.extend(
        [
            Row(
                "SIGKILL -> replicas running elsewhere",
                seconds(total),
                f"{len(before)} replicas; target <= 3 s",
            ),
            Row(
                "  SIGKILL -> node.lost",
                seconds(lost_node[0].arrival - killed_at),
                f"grace {settings.grace:g} s, then the next 0.5 s liveness tick",
            ),
            Row(
                "  SIGKILL -> first / last replica.lost",
                span(lost[0], lost[-1], killed_at),
                "nodes",
            ),
            Row(
                "  SIGKILL -> last replica.requested",
                seconds(requested[-1].arrival - killed_at),
                f"deployments: {len(requested)} event(s)",
            ),
            Row(
                "  SIGKILL -> first / last replica.scheduled",
                span(scheduled[0], scheduled[-1], killed_at),
                "scheduler",
            ),
            Row("  other nodes declared lost meanwhile", str(others), "live nodes: should be 0"),
            Row(
                "  other nodes marked not ready in the run", str(silent), "live nodes: should be 0"
            ),
        ]
    )


@contextmanager
def data_folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="shoal-orchestration-") as folder:
        yield Path(folder)


def run(settings: Settings, rows: list[Row]) -> None:
    """The phases in order; each figure is appended to `rows` as soon as it is measured."""
    env = {
        "SHOAL_NODE_HEARTBEAT_INTERVAL": str(settings.heartbeat_interval),
        "SHOAL_NODE_MISSED_HEARTBEATS": str(settings.missed_heartbeats),
    }
    with data_folder(settings.keep) as folder, ExitStack() as stack:
        platform = stack.enter_context(
            running_platform(folder / "data", root=ROOT, env=env, echo=settings.echo)
        )
        reader = EventLogReader(platform.url)
        cpu = CpuMeter()
        cpu.roots[platform.process.pid] = "broker"
        probe = StateProbe(platform)
        stack.callback(probe.close)
        solo = stack.enter_context(
            running_agent(
                platform,
                "solo",
                cpu_millis=64_000,
                memory_mib=65_536,
                labels={"pool": "solo"},
                heartbeat_interval=settings.heartbeat_interval,
            )
        )
        cpu.roots[solo.process.pid] = "agent solo"
        bench = Bench(settings, platform, reader, probe, cpu, rows)
        setup(bench, stack)
        load = os.getloadavg()[0]
        throughput(bench)
        failover(bench, solo.kill)
        rows.append(
            Row(
                "load average (1 min) before / after",
                f"{load:.1f} / {os.getloadavg()[0]:.1f}",
                f"{os.cpu_count()} CPUs",
            )
        )


def print_table(rows: Sequence[Row]) -> None:
    width = max(len(row.measure) for row in rows)
    values = max(len(row.value) for row in rows)
    print(f"| {'measure':<{width}} | {'value':>{values}} | note |")
    print(f"|{'-' * (width + 2)}|{'-' * (values + 1)}:|------|")
    for row in rows:
        print(f"| {row.measure:<{width}} | {row.value:>{values}} | {row.note} |")


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    print(
        f"{settings.nodes} nodes, {settings.replicas} + {settings.failover_replicas} replicas, "
        f"heartbeats every {settings.heartbeat_interval:g} s (grace {settings.grace:g} s); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[Row] = []
    try:
        run(settings, rows)
    except PhaseTimeoutError as error:
        rows.append(Row("INCOMPLETE", "-", str(error)))
    print_table(rows)
    return 1 if rows[-1].measure == "INCOMPLETE" else 0


if __name__ == "__main__":
    sys.exit(main())
