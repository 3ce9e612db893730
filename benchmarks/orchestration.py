"""Orchestration at scale on the local platform, with simulated nodes: placement throughput
and node failover, measured from the broker's event log.

    .venv/bin/python benchmarks/orchestration.py [--nodes 1000] [--replicas 10000]

What runs: `shoal up` (the broker, every function in its own process, SQLite state), and two
sim agents (`shoal agent --driver sim`): `solo`, one node in a process of its own, and `bulk`,
the other nodes in one process. Then:

1. **failover setup**: a deployment `failover` of `--failover-replicas` (100) is applied while
   `solo` is the only node, so all of them run there;
2. **throughput**: once every `bulk` node joined, a deployment `bench` of `--replicas` (10,000),
   with `nodeSelector: {pool: bulk}` (so `solo` keeps exactly its 100), is applied. Measured:
   from just before the apply is posted to the arrival of the last `replica.started` of
   `bench` at the broker, and replicas/s over that time; the log gives the stages between
   (deployments' `replica.requested`, the scheduler's `replica.scheduled`);
3. **failover**: `solo`'s agent process is SIGKILLed. Measured: from the kill to the arrival
   of the last `replica.started` of the replacements of its replicas; the stages between are
   `node.lost`, `replica.lost` (nodes), `replica.requested` (deployments), `replica.scheduled`.

Every wait is bounded (`--timeout` per phase); a phase that times out is reported as such.
The node-loss grace is the nodes function's `SHOAL_NODE_HEARTBEAT_INTERVAL` x
`SHOAL_NODE_MISSED_HEARTBEATS`, set here from `--heartbeat-interval` (also the agents') and
`--missed-heartbeats`. Loopback only; the data folder is a temporary one unless `--keep DIR`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from shoal import events  # noqa: E402
from shoal.platform.eventlog import EventLogReader, LoggedEvent, replica_history  # noqa: E402
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
    events.REPLICA_STOPPED,
    events.REPLICA_LOST,
    events.REPLICA_STOP_REQUESTED,
    events.REPLICA_EXITED,
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


@dataclass
class Row:
    measure: str
    value: str
    note: str = ""


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=1000, help="nodes in all (default 1000)")
    parser.add_argument("--replicas", type=int, default=10_000, help="of the throughput run")
    parser.add_argument("--failover-replicas", type=int, default=100, help="on the killed node")
    parser.add_argument("--heartbeat-interval", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--missed-heartbeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0, help="per phase, seconds")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="data folder to keep")
    parser.add_argument("--echo", action="store_true", help="show the processes' output")
    args = parser.parse_args(argv)
    if args.nodes < 2 or args.replicas < 1 or args.failover_replicas < 1:
        parser.error("--nodes must be at least 2, the replica counts at least 1")
    return Settings(
        args.nodes,
        args.replicas,
        args.failover_replicas,
        args.heartbeat_interval,
        args.missed_heartbeats,
        args.timeout,
        args.keep,
        args.echo,
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


def of(logged: Sequence[LoggedEvent], event_type: str, name: str) -> list[LoggedEvent]:
    return [e for e in logged if e.type == event_type and e.data.get("deployment") == name]


def wait_for(what: str, timeout: float, done: object) -> float:
    """Call `done()` until it is true; the seconds it took. TimeoutError naming `what`."""
    assert callable(done)
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def started_count(reader: EventLogReader, name: str) -> int:
    reader.read([events.REPLICA_STARTED])
    return len(
        {
            e.data["replica"]
            for e in of(reader.events([events.REPLICA_STARTED]), events.REPLICA_STARTED, name)
        }
    )


def throughput(platform: RunningPlatform, reader: EventLogReader, settings: Settings) -> list[Row]:
    name = "bench"
    applied_at = time.time()
    post_event(
        platform.ingress,
        events.DEPLOYMENT_APPLIED,
        {"manifest": deployment(name, settings.replicas, {"pool": "bulk"})},
    )
    wait_for(
        f"{settings.replicas} replicas of {name} running",
        settings.timeout,
        lambda: started_count(reader, name) >= settings.replicas,
    )
    reader.read(REPLICA_EVENTS)
    logged = reader.events(REPLICA_EVENTS)
    requested = of(logged, events.REPLICA_REQUESTED, name)
    scheduled = of(logged, events.REPLICA_SCHEDULED, name)
    started = of(logged, events.REPLICA_STARTED, name)
    total = max(e.arrival for e in started) - applied_at
    rate = settings.replicas / total
    return [
        Row("apply -> all running", f"{total:.2f} s", f"{settings.replicas} replicas"),
        Row("replicas/s end to end", f"{rate:,.0f}", "target >= 1,000"),
        Row(
            "  apply -> replica.requested",
            f"{requested[-1].arrival - applied_at:.2f} s",
            f"{len(requested)} event(s), deployments",
        ),
        Row(
            "  apply -> first replica.scheduled",
            f"{scheduled[0].arrival - applied_at:.2f} s",
            "scheduler placed them all",
        ),
        Row(
            "  apply -> last replica.scheduled",
            f"{scheduled[-1].arrival - applied_at:.2f} s",
            "scheduler published them all",
        ),
        Row("  apply -> first replica.started", f"{started[0].arrival - applied_at:.2f} s", ""),
    ]


def failover(
    platform: RunningPlatform, reader: EventLogReader, kill: object, node: str, settings: Settings
) -> list[Row]:
    assert callable(kill)
    name = "failover"
    reader.read(REPLICA_EVENTS)
    before = {r.name for r in replica_history(reader.events(REPLICA_EVENTS), name)[-1].replicas}
    killed_at: float = kill()

    def replaced() -> bool:
        reader.read(REPLICA_EVENTS)
        now = replica_history(reader.events(REPLICA_EVENTS), name)[-1].replicas
        return (
            len(now) == settings.failover_replicas
            and not any(r.name in before for r in now)
            and all(r.phase == "running" for r in now)
        )

    wait_for(f"the replicas of {node} replaced", settings.timeout, replaced)
    reader.read([events.NODE_LOST])
    logged = reader.events([*REPLICA_EVENTS, events.NODE_LOST])
    after = [e for e in logged if e.arrival >= killed_at]
    node_lost = [e for e in after if e.type == events.NODE_LOST and e.data.get("node") == node]
    lost = of(after, events.REPLICA_LOST, name)
    requested = of(after, events.REPLICA_REQUESTED, name)
    scheduled = of(after, events.REPLICA_SCHEDULED, name)
    started = [
        e for e in of(after, events.REPLICA_STARTED, name) if e.data["replica"] not in before
    ]
    total = max(e.arrival for e in started) - killed_at
    grace = settings.heartbeat_interval * settings.missed_heartbeats
    return [
        Row(
            "SIGKILL -> replicas running elsewhere",
            f"{total:.2f} s",
            f"{len(before)} replicas; target <= 3 s",
        ),
        Row(
            "  SIGKILL -> node.lost",
            f"{node_lost[0].arrival - killed_at:.2f} s",
            f"grace {grace:g} s + liveness tick (0.5 s)",
        ),
        Row("  SIGKILL -> last replica.lost", f"{lost[-1].arrival - killed_at:.2f} s", ""),
        Row(
            "  SIGKILL -> last replica.requested",
            f"{requested[-1].arrival - killed_at:.2f} s",
            f"{len(requested)} event(s)",
        ),
        Row(
            "  SIGKILL -> last replica.scheduled", f"{scheduled[-1].arrival - killed_at:.2f} s", ""
        ),
    ]


@contextmanager
def data_folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as folder:
        yield Path(folder)


def run(settings: Settings, rows: list[Row]) -> None:
    """Run the phases, appending each measurement to `rows` as soon as it is taken."""
    env = {
        "SHOAL_NODE_HEARTBEAT_INTERVAL": str(settings.heartbeat_interval),
        "SHOAL_NODE_MISSED_HEARTBEATS": str(settings.missed_heartbeats),
    }
    with data_folder(settings.keep) as folder, ExitStack() as stack:
        platform = stack.enter_context(
            running_platform(folder / "data", root=ROOT, env=env, echo=settings.echo)
        )
        reader = EventLogReader(platform.url)
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
        post_event(
            platform.ingress,
            events.DEPLOYMENT_APPLIED,
            {"manifest": deployment("failover", settings.failover_replicas, None)},
        )
        setup = wait_for(
            "the failover deployment running on solo",
            settings.timeout,
            lambda: started_count(reader, "failover") >= settings.failover_replicas,
        )
        rows.append(Row("setup: failover replicas running on solo", f"{setup:.1f} s", ""))
        bulk_nodes = settings.nodes - 1
        joined_at = time.monotonic()
        stack.enter_context(
            running_agent(
                platform,
                "bulk",
                nodes=bulk_nodes,
                labels={"pool": "bulk"},
                heartbeat_interval=settings.heartbeat_interval,
                ready_timeout=settings.timeout,
            )
        )

        def all_joined() -> bool:
            reader.read([events.NODE_JOINED])
            return len(reader.events([events.NODE_JOINED])) >= settings.nodes

        wait_for("every node joined", settings.timeout, all_joined)
        rows.append(
            Row(
                f"setup: {bulk_nodes} bulk nodes joined",
                f"{time.monotonic() - joined_at:.1f} s",
                "",
            )
        )
        load_before = os.getloadavg()
        rows += throughput(platform, reader, settings)
        rows += failover(platform, reader, solo.kill, "solo", settings)
        load_after = os.getloadavg()
        rows.append(
            Row(
                "load average (1 min) before / after",
                f"{load_before[0]:.1f} / {load_after[0]:.1f}",
                f"{os.cpu_count()} CPUs",
            )
        )
    return rows


def print_table(rows: Sequence[Row]) -> None:
    width = max(len(row.measure) for row in rows)
    values = max(len(row.value) for row in rows)
    print(f"| {'measure':<{width}} | {'value':>{values}} | note |")
    print(f"|{'-' * (width + 2)}|{'-' * (values + 2)}|------|")
    for row in rows:
        print(f"| {row.measure:<{width}} | {row.value:>{values}} | {row.note} |")


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    print(
        f"{settings.nodes} nodes, {settings.replicas} replicas; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[Row] = []
    try:
        run(settings, rows)
    except TimeoutError as error:
        rows.append(Row("INCOMPLETE", "-", str(error)))
    print_table(rows)
    return 1 if rows[-1].measure == "INCOMPLETE" else 0


if __name__ == "__main__":
    sys.exit(main())
