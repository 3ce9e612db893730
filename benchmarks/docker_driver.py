"""The docker driver's cost per replica on the real engine (scripts/docker-engine.sh): start N
replicas one after another, measure usage once, stop them all; prints wall time per start and
per stop, the agent's own CPU per operation (getrusage: the driver and the SDK, not dockerd),
dockerd's CPU over the run (from /proc), and the load average beside them.

    .venv/bin/python benchmarks/docker_driver.py [--replicas 20] [--host unix:///...]

Bounded: at most --replicas containers (default 20, at most 200) and --limit seconds in all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shoal.agent.docker_driver import DockerDriver
from shoal.agent.spec import ReplicaSpec
from shoal.orchestration.spec import Resources

RUN_UNTIL_STOPPED = ("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait $!")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def dockerd_cpu_seconds(pidfile: Path) -> float | None:
    """dockerd's and its children's (containerd's) user + system CPU so far, from /proc."""
    try:
        pid = int(pidfile.read_text())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return None
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure(host: str, replicas: int, image: str, limit: float) -> None:
    node = f"bench{uuid.uuid4().hex[:8]}"
    pidfile = Path("/run/shoal-docker/dockerd.pid")
    driver = await DockerDriver.open(node, base_url=host, grace_seconds=5)
    deadline = time.monotonic() + limit
    started: list[str] = []
    daemon_before = dockerd_cpu_seconds(pidfile)
    try:
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        for index in range(replicas):
            if time.monotonic() > deadline:
                break
            name = f"bench-{index}"
            spec = ReplicaSpec(
                name, "bench", node, image, RUN_UNTIL_STOPPED, resources=Resources(50, 32)
            )
            await driver.start(spec)
            started.append(name)
        cpu1, wall1 = cpu_seconds(), time.monotonic()
        await driver.usage()
        cpu2, wall2 = cpu_seconds(), time.monotonic()
        for name in started:
            await driver.stop(name)
        cpu3, wall3 = cpu_seconds(), time.monotonic()
    finally:
        for status in await driver.list():
            await driver.stop(status.spec.name)
        await driver.close()
    daemon_after = dockerd_cpu_seconds(pidfile)
    count = max(len(started), 1)
    load = os.getloadavg()
    print(f"replicas: {len(started)} (image {image}, engine {host})")
    print(
        f"start: {1000 * (wall1 - wall0) / count:.0f} ms wall, "
        f"{1000 * (cpu1 - cpu0) / count:.1f} ms agent CPU per replica"
    )
    print(
        f"usage() over all: {1000 * (wall2 - wall1):.0f} ms wall, "
        f"{1000 * (cpu2 - cpu1) / count:.1f} ms agent CPU per replica"
    )
    print(
        f"stop: {1000 * (wall3 - wall2) / count:.0f} ms wall, "
        f"{1000 * (cpu3 - cpu2) / count:.1f} ms agent CPU per replica"
    )
    if daemon_before is not None and daemon_after is not None:
        print(
            f"dockerd + containerd CPU: {1000 * (daemon_after - daemon_before) / count:.0f} ms "
            "per replica (start, usage and stop)"
        )
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument(
        "--host", default=os.environ.get("DOCKER_HOST", "unix:///run/shoal-docker/docker.sock")
    )
    parser.add_argument(
        "--image", default=os.environ.get("SHOAL_BASE_IMAGE", "shoal-base/python:3.11-bookworm")
    )
    parser.add_argument("--limit", type=float, default=300.0, help="seconds at most")
    args = parser.parse_args()
    replicas = max(1, min(args.replicas, 200))
    asyncio.run(measure(args.host, replicas, args.image, args.limit))


if __name__ == "__main__":
    main()
