"""The log's writer process (`--log-writer process`): what happens when it dies, and what it
ignores. Everything else it shares with the writer thread is tested through `EventLog` by
test_log.py and test_log_progress.py, which run against both."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from local_broker.log import EventLog, LogWriteFailed
from tests.local_broker.test_log import NOW, event


def writer_pid(log: EventLog) -> int:
    child = log._writer._child  # type: ignore[union-attr]
    assert isinstance(child.pid, int)
    return child.pid


async def test_a_dead_writer_process_fails_every_write_after_it_and_the_log_still_closes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = EventLog.open(tmp_path / "events.db", writer_process=True)
    assert await log.append([event("before")], now=NOW) == [1]
    os.kill(writer_pid(log), signal.SIGKILL)
    log._writer._child.wait()  # type: ignore[union-attr]

    for attempt in ("first", "second"):
        with pytest.raises(LogWriteFailed, match="writer process"):
            await log.append([event(attempt)], now=NOW)
    assert "restart the broker" in caplog.text
    await log.close()
    reopened = EventLog.open(tmp_path / "events.db", writer_process=True)
    assert [record.event.id for record in reopened.read_range(0, 10)] == ["before"]
    await reopened.close()


async def test_the_writer_process_ignores_the_terminals_interrupt(tmp_path: Path) -> None:
    # Ctrl-C signals the whole process group; the broker decides when its writer stops.
    log = EventLog.open(tmp_path / "events.db", writer_process=True)
    assert await log.append([event("one")], now=NOW) == [1]
    os.kill(writer_pid(log), signal.SIGINT)
    os.kill(writer_pid(log), signal.SIGTERM)
    assert await log.append([event("two")], now=NOW) == [2]
    await log.close()
    assert log._writer._child.returncode == 0  # type: ignore[union-attr]


def test_a_blocking_write_before_any_event_loop_goes_over_the_pipes_directly(
    tmp_path: Path,
) -> None:
    log = EventLog.open(tmp_path / "events.db", retention_seconds=10, writer_process=True)
    assert log.prune(now=NOW) == 0  # no loop drives the writer yet: the thread talks to it

    async def append_then_prune() -> tuple[list[int | None], int]:
        appended = await log.append([event("one"), event("two")], now=NOW)
        pruned = await asyncio.to_thread(log.prune, now=NOW + 60)  # through the loop now
        await log.close()
        return appended, pruned

    assert asyncio.run(append_then_prune()) == ([1, 2], 2)
