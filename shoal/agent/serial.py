"""The agent's background work, one operation at a time per replica, in arrival order.

Operations on different replicas run concurrently; those on one replica wait for each other, so
a stop that arrives while its replica is starting waits for the start, and a re-report of
`started` goes out only once the replica really started. An operation that fails is logged and
the next one for its replica still runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("shoal.agent")

Operation = Callable[[], Awaitable[None]]


class SerialOperations:
    """Operations by replica name, each started once the one queued before it has ended."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Task[None]] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def queue(self, name: str, operation: Operation) -> None:
        previous = self._last.get(name)
        task = asyncio.create_task(_after(previous, operation, name))
        self._last[name] = task
        self._pending.add(task)
        task.add_done_callback(lambda done: self._forget(name, done))

    async def drain(self, timeout: float) -> None:
        """Let queued operations finish, for at most `timeout` seconds, then cancel them: every
        one, not only the last of each replica (cancelling a waiting operation does not cancel
        the one it waits for)."""
        pending = list(self._pending)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    def _forget(self, name: str, done: asyncio.Task[None]) -> None:
        self._pending.discard(done)
        if self._last.get(name) is done:
            del self._last[name]


async def _after(previous: asyncio.Task[None] | None, operation: Operation, name: str) -> None:
    if previous is not None:
        await asyncio.wait([previous])
    try:
        await operation()
    except Exception:
        log.exception("operation on replica %s failed", name)
