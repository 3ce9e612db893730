"""The driver contract (see `shoal.agent.driver`): every driver passes these tests.

A new driver adds a `DriverKit` to KITS: how to make one, and the specs of a replica that runs
until stopped, one that exits by itself with a given code, and one that cannot start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shoal.agent.driver import Driver, ReplicaExit
from shoal.agent.errors import DriverError
from shoal.agent.exec import ExecDriver
from shoal.agent.sim import EXIT_AFTER_ENV, EXIT_CODE_ENV, SimDriver
from shoal.agent.spec import ReplicaSpec
from tests.shoal.agent.support import close_driver, replica

EXIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class DriverKit:
    make: Callable[[Path], Awaitable[Driver]]
    running: Callable[[str], ReplicaSpec]
    exiting: Callable[[str, int], ReplicaSpec]
    unstartable: Callable[[str], ReplicaSpec]


async def make_sim(_tmp_path: Path) -> Driver:
    return SimDriver()


async def make_exec(tmp_path: Path) -> Driver:
    return await ExecDriver.open(tmp_path / "exec", grace_seconds=2.0)


KITS = {
    "sim": DriverKit(
        make=make_sim,
        running=replica,
        exiting=lambda name, code: replica(
            name, env={EXIT_AFTER_ENV: "0.05", EXIT_CODE_ENV: str(code)}
        ),
        unstartable=lambda name: replica(name, env={EXIT_AFTER_ENV: "soon"}),
    ),
    "exec": DriverKit(
        make=make_exec,
        running=lambda name: replica(name, command=["sleep", "30"]),
        exiting=lambda name, code: replica(name, command=["sh", "-c", f"sleep 0.05; exit {code}"]),
        unstartable=lambda name: replica(name, command=["no-such-program-shoal-test"]),
    ),
}


@pytest.fixture(params=sorted(KITS))
def kit(request: pytest.FixtureRequest) -> DriverKit:
    return KITS[request.param]


@pytest.fixture
async def driver(kit: DriverKit, tmp_path: Path) -> AsyncIterator[Driver]:
    made = await kit.make(tmp_path)
    try:
        yield made
    finally:
        await close_driver(made)


async def next_exit(driver: Driver) -> ReplicaExit:
    return await asyncio.wait_for(anext(driver.exits()), EXIT_TIMEOUT)


async def test_a_started_replica_is_listed_as_running(driver: Driver, kit: DriverKit) -> None:
    spec = kit.running("web-1")
    status = await driver.start(spec)
    assert (status.spec, status.exit_code) == (spec, None)
    assert await driver.list() == [status]


async def test_starting_a_running_replica_starts_nothing_new(
    driver: Driver, kit: DriverKit
) -> None:
    first = await driver.start(kit.running("web-1"))
    again = await driver.start(kit.running("web-1"))
    assert again == first
    assert await driver.list() == [first]


async def test_concurrent_starts_give_one_replica(driver: Driver, kit: DriverKit) -> None:
    statuses = await asyncio.gather(*(driver.start(kit.running("web-1")) for _ in range(5)))
    assert len({status.started_at for status in statuses}) == 1
    assert len(await driver.list()) == 1


async def test_stop_forgets_the_replica(driver: Driver, kit: DriverKit) -> None:
    await driver.start(kit.running("web-1"))
    await driver.start(kit.running("web-2"))
    await driver.stop("web-1")
    assert [status.spec.name for status in await driver.list()] == ["web-2"]
    assert "web-1" not in await driver.usage()


async def test_stopping_an_unknown_replica_is_not_an_error(driver: Driver, kit: DriverKit) -> None:
    await driver.stop("never-started")
    await driver.start(kit.running("web-1"))
    await driver.stop("web-1")
    await driver.stop("web-1")
    assert await driver.list() == []


async def test_an_exit_is_reported_once_and_listed_until_stopped(
    driver: Driver, kit: DriverKit
) -> None:
    await driver.start(kit.exiting("web-1", 3))
    exit_ = await next_exit(driver)
    assert (exit_.name, exit_.exit_code) == ("web-1", 3)
    assert exit_.reason
    [status] = await driver.list()
    assert (status.spec.name, status.exit_code) == ("web-1", 3)
    assert await driver.usage() == {}
    await driver.start(kit.exiting("web-2", 4))
    # The next exit is web-2's: web-1's was not reported twice.
    assert (await next_exit(driver)).name == "web-2"
    await driver.stop("web-1")
    assert [status.spec.name for status in await driver.list()] == ["web-2"]


async def test_a_stopped_replica_reports_no_exit(driver: Driver, kit: DriverKit) -> None:
    await driver.start(kit.running("web-1"))
    await driver.stop("web-1")
    await driver.start(kit.exiting("web-2", 0))
    exit_ = await next_exit(driver)
    assert (exit_.name, exit_.exit_code) == ("web-2", 0)


async def test_starting_an_exited_replica_runs_it_again(driver: Driver, kit: DriverKit) -> None:
    await driver.start(kit.exiting("web-1", 1))
    await next_exit(driver)
    status = await driver.start(kit.running("web-1"))
    assert status.exit_code is None
    assert await driver.list() == [status]


async def test_a_replica_that_cannot_start_raises_driver_error(
    driver: Driver, kit: DriverKit
) -> None:
    with pytest.raises(DriverError):
        await driver.start(kit.unstartable("web-1"))
    assert await driver.list() == []


async def test_usage_measures_every_running_replica(driver: Driver, kit: DriverKit) -> None:
    for name in ("web-1", "web-2"):
        await driver.start(kit.running(name))
    usage = await driver.usage()
    assert set(usage) == {"web-1", "web-2"}
    assert all(u.cpu_millis >= 0 and u.memory_mib >= 0 for u in usage.values())


async def test_output_is_there_for_a_replica_the_driver_has_and_only_then(
    driver: Driver, kit: DriverKit
) -> None:
    assert await driver.output("never-started", 10) is None
    await driver.start(kit.running("web-1"))
    assert isinstance(await driver.output("web-1", 10), str)
    await driver.start(kit.exiting("web-2", 3))
    await next_exit(driver)
    assert isinstance(await driver.output("web-2", 10), str)  # an exited replica keeps it
    await driver.stop("web-1")
    assert await driver.output("web-1", 10) is None  # stopped: its output went with it
    assert driver.follow_output("web-1", 10) is None
    assert driver.follow_output("never-started", 10) is None


async def test_following_a_replica_ends_when_it_is_stopped(driver: Driver, kit: DriverKit) -> None:
    await driver.start(kit.running("web-1"))
    pieces = driver.follow_output("web-1", 10)
    assert pieces is not None

    async def drain() -> list[str]:
        return [piece async for piece in pieces]

    following = asyncio.create_task(drain())
    await asyncio.sleep(0.3)
    await driver.stop("web-1")
    assert all(isinstance(piece, str) for piece in await asyncio.wait_for(following, 15))


async def test_the_kind_names_the_driver(driver: Driver, kit: DriverKit) -> None:
    assert KITS[driver.kind] is kit


async def test_a_command_runs_only_in_a_running_replica(driver: Driver, kit: DriverKit) -> None:
    spec = kit.running("web-1")
    await driver.start(spec)

    passed = await driver.run_in("web-1", ["true"], timeout=5.0)

    assert passed.exit_code == 0
    with pytest.raises(DriverError):
        await driver.run_in("web-2", ["true"], timeout=5.0)
    await driver.stop("web-1")
    with pytest.raises(DriverError):
        await driver.run_in("web-1", ["true"], timeout=5.0)
