"""What the exec driver does beyond the contract: real processes, adopted across agent restarts."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from shoal.agent import procfs
from shoal.agent.errors import DriverError
from shoal.agent.exec import ExecDriver
from shoal.platform.ports import free_port
from tests.shoal.agent.support import replica, wait_until


@pytest.fixture
def driver(exec_driver: ExecDriver) -> ExecDriver:
    return exec_driver


def pid_of(driver: ExecDriver, name: str) -> int:
    return int(
        (driver.state_dir / name / "replica.json").read_text().split('"pid": ')[1].split(",")[0]
    )


def group_members(group: int) -> list[int]:
    members = []
    for entry in os.scandir("/proc"):
        stat = procfs.read_stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and stat.alive and stat.process_group == group:
            members.append(stat.pid)
    return members


async def test_the_command_gets_its_ports_and_env(driver: ExecDriver, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    port = free_port()  # not a fixed one: the driver refuses a port a running `shoal up` holds
    spec = replica(
        command=["sh", "-c", f'echo "$1 $GREETING $PORT_HTTP" > {out}', "sh", "$PORT"],
        env={"GREETING": "hello"},
        ports=[("http", port)],
    )
    await driver.start(spec)
    await asyncio.wait_for(anext(driver.exits()), 10)
    assert out.read_text() == f"{port} hello {port}\n"


async def test_output_goes_to_the_replica_log(driver: ExecDriver) -> None:
    await driver.start(replica(command=["sh", "-c", "echo out; echo err >&2; sleep 30"]))
    log = driver.state_dir / "web-1" / "output.log"
    await wait_until(lambda: log.read_text() == "out\nerr\n", what="the output in the log")


async def test_stop_ends_the_whole_process_group(driver: ExecDriver) -> None:
    await driver.start(replica(command=["sh", "-c", "sleep 30 & sleep 30 & wait"]))
    group = pid_of(driver, "web-1")
    await wait_until(lambda: len(group_members(group)) >= 4, what="shim, sh and two sleeps")
    await driver.stop("web-1")
    assert group_members(group) == []
    assert not (driver.state_dir / "web-1").exists()


async def test_a_replica_ignoring_sigterm_is_killed_after_the_grace(driver: ExecDriver) -> None:
    await driver.start(replica(command=["sh", "-c", "trap '' TERM; sleep 30"]))
    group = pid_of(driver, "web-1")
    await wait_until(lambda: len(group_members(group)) >= 3, what="shim, sh and sleep")
    await driver.stop("web-1")
    assert group_members(group) == []


async def test_usage_measures_a_busy_replica(driver: ExecDriver) -> None:
    await driver.start(replica(command=["sh", "-c", "while :; do :; done"]))
    await driver.usage()
    await asyncio.sleep(0.3)
    usage = (await driver.usage())["web-1"]
    assert usage.cpu_millis > 0
    assert usage.memory_mib > 0


async def test_a_new_driver_adopts_running_replicas(tmp_path: Path) -> None:
    first = await ExecDriver.open(tmp_path / "exec", grace_seconds=0.5)
    started = await first.start(replica(command=["sleep", "30"]))
    pid = pid_of(first, "web-1")
    await first.close()
    second = await ExecDriver.open(tmp_path / "exec", grace_seconds=0.5)
    try:
        assert await second.list() == [started]
        again = await second.start(replica(command=["sleep", "30"]))
        assert again == started
        assert pid_of(second, "web-1") == pid
    finally:
        await second.stop("web-1")
        await second.close()
    assert group_members(pid) == []


async def test_an_adopted_replica_reports_its_exit(tmp_path: Path) -> None:
    first = await ExecDriver.open(tmp_path / "exec")
    await first.start(replica(command=["sh", "-c", "sleep 0.5; exit 4"]))
    await first.close()
    second = await ExecDriver.open(tmp_path / "exec")
    try:
        exit_ = await asyncio.wait_for(anext(second.exits()), 10)
        assert (exit_.name, exit_.exit_code, exit_.reason) == ("web-1", 4, "exited with code 4")
    finally:
        await second.stop("web-1")
        await second.close()


async def test_a_relative_state_dir_still_records_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`shoal agent`'s default data dir is relative (.shoal/agents/NAME), and each replica runs
    in its own folder: its exit must still be recorded where the driver reads it."""
    monkeypatch.chdir(tmp_path)
    driver = await ExecDriver.open(Path(".shoal/agents/n1/exec"))
    try:
        await driver.start(replica(command=["sh", "-c", "exit 4"]))
        exit_ = await asyncio.wait_for(anext(driver.exits()), 10)
        assert (exit_.exit_code, exit_.reason) == (4, "exited with code 4")
    finally:
        await driver.stop("web-1")
        await driver.close()


async def test_an_exit_s_reason_ends_with_what_the_replica_printed(tmp_path: Path) -> None:
    driver = await ExecDriver.open(tmp_path / "exec")
    try:
        await driver.start(
            replica(command=["sh", "-c", "echo starting; echo 'no config file' >&2; exit 3"])
        )
        exit_ = await asyncio.wait_for(anext(driver.exits()), 10)
        assert exit_.reason == "exited with code 3; last output: starting | no config file"
    finally:
        await driver.stop("web-1")
        await driver.close()


async def test_output_is_the_last_lines_printed_on_stdout_and_stderr(tmp_path: Path) -> None:
    driver = await ExecDriver.open(tmp_path / "exec")
    command = ["sh", "-c", "for n in 1 2 3 4; do echo out $n; done; echo err >&2; sleep 30"]
    try:
        await driver.start(replica(command=command))
        await wait_for_output(driver, "err")
        assert await driver.output("web-1", 3) == "out 3\nout 4\nerr"
        assert await driver.output("web-1", 100) == "out 1\nout 2\nout 3\nout 4\nerr"
        assert await driver.output("web-1", 0) == ""
    finally:
        await driver.stop("web-1")
        await driver.close()


async def test_following_gives_the_tail_then_what_comes_until_the_exit(tmp_path: Path) -> None:
    driver = await ExecDriver.open(tmp_path / "exec")
    go = tmp_path / "go"
    script = f"echo old 1; echo old 2; while [ ! -e {go} ]; do sleep 0.05; done; echo new; exit 3"
    try:
        await driver.start(replica(command=["sh", "-c", script]))
        await wait_for_output(driver, "old 2")
        pieces = driver.follow_output("web-1", 1)
        assert pieces is not None
        assert await anext(pieces) == "old 2\n"
        go.touch()
        rest = await asyncio.wait_for(collect(pieces), 15)  # ends with the exit
        assert rest == "new\n"
    finally:
        await driver.stop("web-1")
        await driver.close()


async def collect(pieces: AsyncGenerator[str, None]) -> str:
    return "".join([piece async for piece in pieces])


async def wait_for_output(driver: ExecDriver, last_line: str) -> None:
    for _ in range(200):
        output = await driver.output("web-1", 1)
        if output == last_line:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"web-1 did not print {last_line!r}; its last line: {output!r}")


async def test_a_host_port_held_outside_shoal_fails_the_start(tmp_path: Path) -> None:
    driver = await ExecDriver.open(tmp_path / "exec")
    try:
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen()
            port = int(other.getsockname()[1])
            spec = replica(command=["sleep", "30"], ports=[("http", port)])
            with pytest.raises(DriverError, match=rf"host port {port} of web-1 is taken"):
                await driver.start(spec)
        assert await driver.list() == []
    finally:
        await driver.close()


async def test_an_exit_while_no_driver_watched_is_listed(tmp_path: Path) -> None:
    first = await ExecDriver.open(tmp_path / "exec")
    await first.start(replica(command=["sh", "-c", "kill -TERM $$$$"]))
    shim = pid_of(first, "web-1")
    await first.close()

    def shim_gone() -> bool:
        stat = procfs.read_stat(shim)
        return stat is None or not stat.alive

    await wait_until(shim_gone, what="the shim exiting")
    second = await ExecDriver.open(tmp_path / "exec")
    try:
        [status] = await second.list()
        assert (status.spec.name, status.exit_code) == ("web-1", 143)
    finally:
        await second.stop("web-1")
        await second.close()


def test_parse_stat_counts_fields_after_the_command_name() -> None:
    fields = ["S", "1", "77", "77", "0", "-1", "4194560", "0", "0", "0", "0", "7", "5"]
    fields += ["0", "0", "20", "0", "1", "0", "123456", "1000", "42"]
    stat = procfs.parse_stat(f"4242 (we ird) (name) {' '.join(fields)} 0 0 0\n")
    assert stat == procfs.ProcessStat(4242, "S", 77, 12, 123456, 42)
    assert stat.alive
