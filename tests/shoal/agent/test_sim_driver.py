"""What the sim driver does beyond the contract: load, start delay, scripted and random exits."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from shoal.agent.driver import ReplicaExit, Usage
from shoal.agent.errors import DriverError
from shoal.agent.sim import (
    EXIT_AFTER_ENV,
    EXIT_CODE_ENV,
    SimDriver,
    SimSettings,
    random_lifetime,
)
from tests.shoal.agent.support import replica


async def test_load_sets_the_cpu_use_of_a_deployments_replicas() -> None:
    driver = SimDriver()
    await driver.start(replica("web-1", cpu=200, memory=64))
    await driver.start(replica("web-2", cpu=100, memory=32))
    await driver.start(replica("db-1", deployment="db", cpu=100, memory=128))
    assert driver.set_load("web", 90) == 2
    assert await driver.usage() == {
        "web-1": Usage(180.0, 64.0),
        "web-2": Usage(90.0, 32.0),
        "db-1": Usage(0.0, 128.0),
    }


async def test_a_replica_runs_after_the_start_delay() -> None:
    driver = SimDriver(SimSettings(start_delay=0.2))
    starting = asyncio.create_task(driver.start(replica()))
    await asyncio.sleep(0.05)
    assert await driver.list() == []
    status = await starting
    assert await driver.list() == [status]


async def test_a_replica_stopped_while_starting_fails_to_start() -> None:
    driver = SimDriver(SimSettings(start_delay=0.2))
    starts = [asyncio.create_task(driver.start(replica())) for _ in range(2)]
    await asyncio.sleep(0.05)
    await driver.stop("web-1")
    for start in starts:
        with pytest.raises(DriverError, match="stopped while it started"):
            await start
    assert await driver.list() == []


async def test_the_env_scripts_an_exit() -> None:
    driver = SimDriver()
    await driver.start(replica(env={EXIT_AFTER_ENV: "0", EXIT_CODE_ENV: "42"}))
    exit_ = await asyncio.wait_for(anext(driver.exits()), 5)
    assert exit_ == ReplicaExit("web-1", 42, f"{EXIT_AFTER_ENV} asked it to exit after 0.0 s")


@pytest.mark.parametrize(
    "env",
    [
        {EXIT_AFTER_ENV: "-1"},
        {EXIT_AFTER_ENV: "inf"},
        {EXIT_AFTER_ENV: "1", EXIT_CODE_ENV: "256"},
        {EXIT_AFTER_ENV: "1", EXIT_CODE_ENV: "one"},
    ],
)
async def test_a_malformed_exit_script_cannot_start(env: dict[str, str]) -> None:
    with pytest.raises(DriverError, match=EXIT_AFTER_ENV):
        await SimDriver().start(replica(env=env))


async def test_with_exit_probability_1_every_replica_exits_at_once_with_137() -> None:
    driver = SimDriver(SimSettings(exit_probability=1.0, seed=7))
    await driver.start(replica())
    exit_ = await asyncio.wait_for(anext(driver.exits()), 5)
    assert exit_ == ReplicaExit("web-1", 137, "simulated random exit")


def test_random_lifetimes_follow_the_seed() -> None:
    first, second = random.Random(3), random.Random(3)
    lifetimes = [random_lifetime(first, 0.1) for _ in range(5)]
    assert lifetimes == [random_lifetime(second, 0.1) for _ in range(5)]
    assert all(0 < lifetime < math.inf for lifetime in lifetimes)


@pytest.mark.parametrize(("delay", "probability"), [(-1.0, 0.0), (0.0, 1.5), (0.0, -0.1)])
def test_settings_are_checked(delay: float, probability: float) -> None:
    with pytest.raises(ValueError, match="start_delay"):
        SimSettings(delay, probability)
