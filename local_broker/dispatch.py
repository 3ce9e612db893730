"""Feeding one Trigger from its broker's log.

Each Trigger has its own task that reads the log in order from its persisted cursor, evaluates
its filter once per event, and delivers matching events with at most `window` deliveries in
flight. The cursor only advances past an event when every event before it is done (delivered,
dead-lettered or filtered out), so after a crash delivery resumes at-least-once from there.
One Trigger's slow subscriber fills only its own window; the others read on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from local_broker.deliver import (
    Attempt,
    Delivered,
    Failed,
    OutgoingRequests,
    dead_letter_event,
    deliver_with_retries,
    send_with_retries,
)
from local_broker.event import CloudEvent
from local_broker.http.client import HttpClient
from local_broker.jsonlog import log_json
from local_broker.log import DeadLetter, EventLog, LogRecord
from local_broker.manifests import Trigger
from local_broker.metrics import BrokerMetrics

ReplyIngest = Callable[[CloudEvent, CloudEvent], Awaitable[None]]
READ_BATCH = 256


class TriggerDispatcher:
    def __init__(
        self,
        trigger: Trigger,
        log: EventLog,
        client: HttpClient,
        ingest_reply: ReplyIngest,
        metrics: BrokerMetrics,
        *,
        window: int,
        outgoing: OutgoingRequests,
    ) -> None:
        self.trigger = trigger
        self._log = log
        self._client = client
        self._ingest_reply = ingest_reply
        self._metrics = metrics.for_trigger(trigger.key)
        self._outgoing = outgoing
        self._structured = trigger.delivery.format == "json"
        # The in-flight window: a counter and one waiter (only _run takes slots), which is
        # cheaper than asyncio.Semaphore on a path taken once per delivery.
        self._free_slots = window
        self._slot_freed: asyncio.Future[None] | None = None
        # In dispatch order, so the first key is the lowest sequence number still in flight.
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._position = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"trigger {self.trigger.key}")

    async def stop(self, grace_seconds: float) -> None:
        """Stop reading; give deliveries in flight `grace_seconds` to finish, then cancel them.

        What is cancelled stays behind the cursor and is delivered again after a restart.
        """
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        pending = list(self._pending.values())
        if pending:
            _done, still_running = await asyncio.wait(pending, timeout=grace_seconds)
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)

    async def _run(self) -> None:
        key = self.trigger.key
        start = self._log.cursor(key)
        if start is None:
            # A new Trigger sees events accepted from now on, as on Knative.
            start = self._log.head()
            self._log.set_cursor(key, start)
        self._position = start
        while not self._stopping:
            records = self._log.read_after(self._position, READ_BATCH)
            if not records:
                await self._log.wait_beyond(self._position)
                continue
            for record in records:
                if self.trigger.filter.matches(record.event):
                    while not self._free_slots:
                        self._slot_freed = asyncio.get_running_loop().create_future()
                        await self._slot_freed
                    self._free_slots -= 1
                    task = asyncio.create_task(self._deliver(record))
                    self._pending[record.seq] = task
                    task.add_done_callback(self._make_done_callback(record.seq))
                # Only now: while waiting for a slot, the cursor must stay before this record.
                self._position = record.seq
            if not self._pending:
                self._log.set_cursor(key, self._position)

    def _make_done_callback(self, seq: int) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            del self._pending[seq]
            self._free_slots += 1
            freed = self._slot_freed
            if freed is not None and not freed.done():
                freed.set_result(None)
            if self._stopping and _task.cancelled():
                return
            pending = self._pending
            low_watermark = next(iter(pending)) - 1 if pending else self._position
            self._log.set_cursor(self.trigger.key, low_watermark)

        return done

    async def _deliver(self, record: LogRecord) -> None:
        trigger = self.trigger
        headers, body = self._outgoing.get(record.event, structured=self._structured)
        outcome = await send_with_retries(
            self._client,
            trigger.subscriber,
            headers,
            body,
            trigger.delivery,
            on_retry=self._note_retry,
        )
        if isinstance(outcome, Delivered):
            self._metrics.delivered.inc()
            self._metrics.latency.observe(max(0.0, time.time() - record.arrival))
            if outcome.reply is not None:
                await self._ingest_reply(record.event, outcome.reply)
                self._metrics.replies.inc()
            return
        await self._dead_letter(record, outcome)

    def _note_retry(self, attempt: Attempt) -> None:
        self._metrics.retried.inc()
        self._log_failure(attempt, final=False)

    def _log_failure(self, attempt: Attempt, *, final: bool) -> None:
        log_json(
            logging.WARNING,
            "delivery failed",
            trigger=self.trigger.key,
            subscriber=self.trigger.subscriber,
            status=attempt.status,
            error=attempt.error,
            final=final,
        )

    async def _dead_letter(self, record: LogRecord, failure: Failed) -> None:
        trigger = self.trigger
        self._log_failure(failure.last, final=True)
        self._metrics.dead_lettered.inc()
        if trigger.dead_letter_sink is not None:
            outcome = await deliver_with_retries(
                self._client,
                trigger.dead_letter_sink,
                dead_letter_event(record.event, failure),
                trigger.delivery,
            )
            if isinstance(outcome, Delivered):
                return
            reason = f"{failure.reason}; dead-letter sink also failed: {outcome.reason}"
        else:
            reason = failure.reason
        # No sink, or the sink failed too: keep the event in the broker's dead-letter store
        # (`shoal events --dead`) rather than letting it vanish.
        await self._log.add_dead_letter(
            DeadLetter(
                trigger=trigger.key,
                event=record.event,
                reason=reason,
                status=failure.last.status,
                at=time.time(),
            )
        )
