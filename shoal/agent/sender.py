"""Posting the agent's events to the broker: in order, retried until accepted.

One POST is in flight at a time, so events reach the broker in the order they were sent (a
replica's `started` before its `exited`). While a POST is in flight, new events queue; with
`batch` on, the next POST carries up to `max_batch_events` of them as one
`application/cloudevents-batch+json` request (CloudEvents HTTP binding 3.3: a JSON array of
events), which is how 1,000 simulated nodes heartbeating each second stay cheap. A single queued
event always goes in binary mode. Knative's broker ingress takes no batches, so batching is an
option, on by default only for the sim driver.

A POST that fails (connection refused while the broker restarts, a timeout, 404, 408, 409, 429,
5xx: the statuses Knative retries too) is retried with the *same* events and ids after an
exponential back-off, without end: the broker deduplicates on (source, id), so a POST that
was committed but whose answer was lost costs nothing. Any other answer (400, 413, ...) means
the events can never be accepted; they are logged and dropped, so the queue keeps moving.

A heartbeat is sent with `supersedes=<key>`: a newer heartbeat replaces one still queued (in its
place in the queue), so a broker outage queues one heartbeat per key, not one per second.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from itertools import count

import aiohttp

from shoal.agent.reports import JsonEvent
from shoal.runtime.wire import BATCH, binary_message

__all__ = ["EventSender", "retry_delay"]

log = logging.getLogger("shoal.agent.sender")

RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})
MAX_ERROR_BODY = 300


def retry_delay(attempt: int, first: float = 0.05, cap: float = 2.0) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): doubling from `first`."""
    return min(cap, first * 2.0 ** min(attempt - 1, 30))


class EventSender:
    def __init__(
        self,
        url: str,
        *,
        batch: bool,
        max_batch_events: int = 500,
        max_batch_bytes: int = 512 * 1024,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.batch = batch
        self.max_batch_events = max_batch_events if batch else 1
        self.max_batch_bytes = max_batch_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._pending: dict[object, JsonEvent] = {}
        self._keys = count()
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def send(self, event: JsonEvent, *, supersedes: str | None = None) -> None:
        """Queue `event`; with `supersedes`, it replaces a queued event sent with that key, in
        that event's place: were it moved to the end, a sender that cannot keep up would send
        the same few keys while the others wait behind them for good (a sim agent's heartbeats
        of some of its nodes starved until the nodes were declared lost)."""
        key: object = next(self._keys) if supersedes is None else supersedes
        self._pending[key] = event
        self._idle.clear()
        self._arrived.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._task = asyncio.create_task(self._run(self._session), name="event sender")

    async def flush(self, timeout: float) -> bool:
        """Wait until every queued event was posted; False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, flush_timeout: float = 5.0) -> None:
        """Post what is queued (for at most `flush_timeout` seconds), then stop."""
        if not await self.flush(flush_timeout):
            log.warning("closing with %d event(s) not posted", len(self._pending))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._arrived.clear()
                await self._arrived.wait()
                continue
            headers, body, size = self._take()
            await self._post_until_done(session, headers, body, size)

    def _take(self) -> tuple[dict[str, str], bytes, int]:
        """Remove the next events from the queue and encode them as one request."""
        if self.max_batch_events == 1 or len(self._pending) == 1:
            key = next(iter(self._pending))
            headers, body = binary_message(self._pending.pop(key))
            return headers, body, 1
        encoded = list(self._encode_batch())
        body = b"[" + b",".join(encoded) + b"]"
        return {"Content-Type": BATCH}, body, len(encoded)

    def _encode_batch(self) -> Iterator[bytes]:
        size = 0
        for taken, key in enumerate(list(self._pending)):
            line = json.dumps(self._pending[key], separators=(",", ":")).encode()
            full = taken >= self.max_batch_events or size + len(line) > self.max_batch_bytes
            if taken and full:
                return
            del self._pending[key]
            size += len(line) + 1
            yield line

    async def _post_until_done(
        self, session: aiohttp.ClientSession, headers: dict[str, str], body: bytes, size: int
    ) -> None:
        for attempt in count(1):
            try:
                async with session.post(self.url, data=body, headers=headers) as response:
                    if 200 <= response.status < 300:
                        return
                    detail = (await response.read())[:MAX_ERROR_BODY].decode("utf-8", "replace")
                    if response.status < 500 and response.status not in RETRYABLE_STATUSES:
                        log.error(
                            "the broker refused %d event(s) with HTTP %d, dropping them: %s",
                            size,
                            response.status,
                            detail,
                        )
                        return
                    problem = f"HTTP {response.status}: {detail}"
            except (aiohttp.ClientError, OSError) as error:  # TimeoutError is an OSError
                problem = f"{type(error).__name__}: {error}"
            if attempt == 1:
                log.warning("cannot post to %s (%s); retrying", self.url, problem)
            await asyncio.sleep(retry_delay(attempt))
