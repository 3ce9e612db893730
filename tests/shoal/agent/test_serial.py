"""The agent's per-replica queue: in order on one replica, side by side across replicas."""

from __future__ import annotations

import asyncio

import pytest

from shoal.agent.serial import Operation, SerialOperations


def recording(done: list[str], label: str, gate: asyncio.Event | None = None) -> Operation:
    async def operation() -> None:
        if gate is not None:
            await gate.wait()
        done.append(label)

    return operation


async def test_operations_on_one_replica_run_in_arrival_order() -> None:
    ops, done = SerialOperations(), list[str]()
    gate = asyncio.Event()
    ops.queue("web-1", recording(done, "start", gate))  # held until the gate opens
    ops.queue("web-1", recording(done, "stop"))
    await asyncio.sleep(0.01)
    assert done == []  # the stop waits for the start

    gate.set()
    await ops.drain(timeout=5)
    assert done == ["start", "stop"]


async def test_other_replicas_do_not_wait() -> None:
    ops, done = SerialOperations(), list[str]()
    gate = asyncio.Event()
    ops.queue("web-1", recording(done, "web-1 start", gate))
    ops.queue("web-2", recording(done, "web-2 start"))
    await asyncio.sleep(0.01)
    assert done == ["web-2 start"]

    gate.set()
    await ops.drain(timeout=5)
    assert done == ["web-2 start", "web-1 start"]


async def test_a_failed_operation_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ops, done = SerialOperations(), list[str]()

    async def failing() -> None:
        raise RuntimeError("engine went away")

    ops.queue("web-1", failing)
    ops.queue("web-1", recording(done, "stop"))
    await ops.drain(timeout=5)

    assert done == ["stop"]
    assert "operation on replica web-1 failed" in caplog.text
    assert "engine went away" in caplog.text


async def test_drain_cancels_what_outlasts_its_timeout() -> None:
    ops, done = SerialOperations(), list[str]()
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    ops.queue("web-1", hangs)
    ops.queue("web-1", recording(done, "never"))
    await asyncio.wait_for(ops.drain(timeout=0.05), 5)

    assert cancelled.is_set()
    assert done == []
