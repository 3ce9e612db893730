"""Waiting by event type: a Trigger whose filter implies a type sleeps through other commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local_broker.event import CloudEvent
from local_broker.log import EventLog

NOW = 1_700_000_000.0


def event(event_id: str, event_type: str = "other") -> CloudEvent:
    return CloudEvent({"specversion": "1.0", "id": event_id, "source": "/t", "type": event_type})


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EventLog]:
    opened = EventLog.open(tmp_path / "events.db")
    yield opened
    await opened.close()


async def parked(log: EventLog, seq: int, event_type: str) -> asyncio.Task[int]:
    waiter = asyncio.create_task(log.wait_beyond(seq, event_type))
    await asyncio.sleep(0)  # it parks
    return waiter


# `append` returns after the commit's wake-up has run (both are queued on the loop in that
# order), so whether a waiter is done right after it is deterministic.


async def test_a_waiter_sleeps_through_commits_of_other_types(log: EventLog) -> None:
    waiter = await parked(log, 0, "wanted")
    await log.append([event("a")], now=NOW)
    await log.append([event("b"), event("c")], now=NOW)
    assert not waiter.done()
    await log.append([event("d", "wanted")], now=NOW)
    # Nothing it wants up to 3: it may skip there and read from 4.
    assert await asyncio.wait_for(waiter, 5) == 3


async def test_a_commit_with_the_type_among_others_wakes_it(log: EventLog) -> None:
    waiter = await parked(log, 0, "wanted")
    await log.append([event("a"), event("b", "wanted"), event("c")], now=NOW)
    assert await asyncio.wait_for(waiter, 5) == 0  # read from where it was


async def test_waiters_of_other_types_stay_parked(log: EventLog) -> None:
    wanted = await parked(log, 0, "wanted")
    other = await parked(log, 0, "else")
    untyped = asyncio.create_task(log.wait_beyond(0))
    await log.append([event("a", "wanted")], now=NOW)
    assert await asyncio.wait_for(wanted, 5) == 0
    assert await asyncio.wait_for(untyped, 5) == 0
    assert not other.done()
    other.cancel()


async def test_wake_type_waiters_lets_them_skip_what_was_announced(log: EventLog) -> None:
    waiter = await parked(log, 0, "wanted")
    await log.append([event("a"), event("b")], now=NOW)
    log.wake_type_waiters()
    assert await asyncio.wait_for(waiter, 5) == 2


async def test_already_beyond_returns_at_once(log: EventLog) -> None:
    await log.append([event("a")], now=NOW)
    assert await asyncio.wait_for(log.wait_beyond(0, "wanted"), 5) == 0


async def test_closing_wakes_typed_waiters(tmp_path: Path) -> None:
    log = EventLog.open(tmp_path / "events.db")
    waiter = await parked(log, 0, "wanted")
    await log.close()
    assert await asyncio.wait_for(waiter, 5) == 0
