"""SIGKILL and restart of a `shoal agent` process: it reconciles without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from local_broker.testing import post_event
from shoal import events
from shoal.agent import procfs
from shoal.agent.spec import ReplicaSpec
from shoal.platform.ports import free_port
from tests.shoal.agent.conftest import Platform
from tests.shoal.agent.support import (
    Seen,
    broker_event,
    replica,
    scheduled_data,
    seen,
    stop_data,
    wait_until,
)


def agent_args(platform: Platform, tmp_path: Path, driver: str, port: int) -> list[str]:
    return [
        "--name", "n1",
        "--broker", platform.ingress,
        "--driver", driver,
        "--listen", f"127.0.0.1:{port}",
        "--write-trigger", str(platform.manifests),
        "--data-dir", str(tmp_path / "agent"),
        "--heartbeat-interval", "0.2",
        "--stop-grace", "1",
    ]  # fmt: skip


@contextmanager
def agent_process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoal.cli.main", "agent", *args],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def joins(platform: Platform) -> list[Seen]:
    return seen(platform.sink, events.NODE_JOINED)


def started(platform: Platform) -> list[Seen]:
    return seen(platform.sink, events.REPLICA_STARTED)


async def post(platform: Platform, type_: str, data: dict[str, object]) -> None:
    status, body = await post_event(platform.ingress, broker_event(type_, data, "n1"))
    assert status == 202, body


async def schedule_once_joined(platform: Platform, spec: ReplicaSpec) -> None:
    """Wait for the agent's first join and its Trigger, then schedule `spec` onto it."""
    await wait_until(lambda: len(joins(platform)) == 1, what="the first join")
    await platform.wait_for_trigger("agent-n1")
    await post(platform, events.REPLICA_SCHEDULED, scheduled_data(spec))


async def test_a_restarted_sim_agent_runs_its_replicas_once(
    platform: Platform, tmp_path: Path
) -> None:
    args = agent_args(platform, tmp_path, "sim", free_port())
    spec = replica("web-1", node="n1")
    with agent_process(args, tmp_path / "agent.log") as first:
        await schedule_once_joined(platform, spec)
        await wait_until(lambda: len(started(platform)) == 1, what="web-1 starting")
        kill(first)
    with agent_process(args, tmp_path / "agent.log") as second:
        await wait_until(lambda: len(joins(platform)) == 2, what="the second join")
        assert joins(platform)[1].data["replicas"] == [{"deployment": "web", "replica": "web-1"}]
        await wait_until(lambda: len(started(platform)) == 2, what="web-1 restarting")
        rejoined = len(platform.sink.received)

        def later_beats() -> list[Seen]:
            return seen(platform.sink, events.NODE_HEARTBEAT, since=rejoined)

        await wait_until(lambda: len(later_beats()) >= 2, what="heartbeats after the restart")
        for beat in later_beats():
            (status,) = cast(list[dict[str, Any]], beat.data["nodes"])
            listed = status.get("replicas")  # left out while unchanged
            assert listed is None or [r["replica"] for r in listed] == ["web-1"]
        second.terminate()
        assert second.wait(timeout=15) == 0
    assert len(started(platform)) == 2


async def test_a_restarted_exec_agent_adopts_its_processes(
    platform: Platform, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    spec = pid_writing_replica(pids)
    args = agent_args(platform, tmp_path, "exec", free_port())
    pid = 0
    try:
        with agent_process(args, tmp_path / "agent.log") as first:
            await schedule_once_joined(platform, spec)
            await wait_until(lambda: len(started(platform)) == 1, what="web-1 starting")
            await wait_until(pids.exists, what="the replica writing its pid")
            pid = int(pids.read_text())
            kill(first)
        assert is_alive(pid)
        # Posted while no agent listens: the broker retries until the agent is back.
        await post(platform, events.REPLICA_STOP_REQUESTED, stop_data(spec))
        with agent_process(args, tmp_path / "agent.log") as second:
            await wait_until(lambda: len(joins(platform)) == 2, what="the second join")
            replicas = joins(platform)[1].data["replicas"]
            assert replicas == [{"deployment": "web", "replica": "web-1"}]
            await wait_until(
                lambda: seen(platform.sink, events.REPLICA_STOPPED) != [],
                timeout=30,
                what="the stop delivered after the restart",
            )
            assert not is_alive(pid)
            assert pids.read_text().splitlines() == [str(pid)]  # started once, never again
            second.terminate()
            assert second.wait(timeout=15) == 0
    finally:
        if pid and is_alive(pid):
            os.killpg(os.getpgid(pid), signal.SIGKILL)


def pid_writing_replica(pids: Path) -> ReplicaSpec:
    """web-1 on n1: appends its pid to `pids` each time it starts, then sleeps."""
    # $$$$ becomes $$ once the agent substitutes the environment: the shell's own pid.
    return replica("web-1", node="n1", command=["sh", "-c", f"echo $$$$ >> {pids}; exec sleep 60"])


def is_alive(pid: int) -> bool:
    stat = procfs.read_stat(pid)
    return stat is not None and stat.alive


async def test_an_agent_told_to_stop_its_replicas_on_exit_does_and_the_next_starts_them(
    platform: Platform, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    spec = pid_writing_replica(pids)
    args = [*agent_args(platform, tmp_path, "exec", free_port()), "--stop-replicas-on-exit"]
    alive: list[int] = []
    try:
        with agent_process(args, tmp_path / "agent.log") as first:
            await schedule_once_joined(platform, spec)
            await wait_until(pids.exists, what="the replica writing its pid")
            first.terminate()  # SIGTERM, as shoal up stops it
            assert first.wait(timeout=30) == 0
        (pid,) = [int(line) for line in pids.read_text().splitlines()]
        assert not is_alive(pid)
        assert seen(platform.sink, events.REPLICA_EXITED) == []  # a stop, not a crash
        assert seen(platform.sink, events.REPLICA_STOPPED) == []  # nor a stop to report

        with agent_process(args, tmp_path / "agent.log") as second:
            await wait_until(
                lambda: len(pids.read_text().splitlines()) == 2, what="web-1 started again"
            )
            alive = [int(line) for line in pids.read_text().splitlines()][1:]
            assert is_alive(alive[0])
            second.terminate()
            assert second.wait(timeout=30) == 0
        assert not is_alive(alive[0])
    finally:
        for pid in alive:
            if is_alive(pid):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
