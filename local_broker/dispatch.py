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
from functools import partial
from typing import Any, Protocol

from local_broker.deliver import (
    Attempt,
    Delivered,
    Failed,
    OutgoingRequests,
    attempt_of,
    attempt_timeout,
    dead_letter_event,
    deliver_with_retries,
    failed_attempt,
    send_with_retries,
    settled_delivery,
)
from local_broker.event import CloudEvent
from local_broker.http.client import (
    ClientResponse,
    HttpClient,
    HttpClientError,
    StaleConnectionError,
)
from local_broker.jsonlog import log_json
from local_broker.log import DeadLetter, LogRecord
from local_broker.manifests import Trigger
from local_broker.metrics import BrokerMetrics

ReplyIngest = Callable[[CloudEvent, CloudEvent], Awaitable[None]]
READ_BATCH = 256


class DispatchLog(Protocol):
    """What a dispatcher needs of its broker's log: an `EventLog` in the broker's process, or
    a `DeliveryLog` (deliverylog.py) in a delivery process of its own."""

    def head(self) -> int: ...
    def read_after(self, seq: int, limit: int) -> list[LogRecord]: ...
    async def wait_beyond(self, seq: int, event_type: str | None = None) -> int: ...
    def wake_type_waiters(self) -> None: ...
    def cursor(self, trigger_key: str) -> int | None: ...
    def set_cursor(self, trigger_key: str, seq: int) -> None: ...
    def forget_trigger(self, trigger_key: str) -> None: ...
    def flush_cursors(self) -> asyncio.Future[None]: ...
    async def add_dead_letter(self, record: DeadLetter) -> None: ...


class TriggerDispatcher:
    def __init__(
        self,
        trigger: Trigger,
        log: DispatchLog,
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
        # A filter that implies one event type sleeps through commits without that type.
        self._event_type = trigger.filter.required_value("type")
        # The in-flight window: a counter and one waiter (only _run takes slots), which is
        # cheaper than asyncio.Semaphore on a path taken once per delivery.
        self._free_slots = window
        self._slot_freed: asyncio.Future[None] | None = None
        # In dispatch order, so the first key is the lowest sequence number still in flight.
        # A delivery is its first attempt's response future (`HttpClient.send_on_idle`), or the
        # task that takes over when that did not settle it (same key, so the order stays).
        self._pending: dict[int, asyncio.Future[Any]] = {}
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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        # Again while a first attempt that failed hands over to a retrying task.
        while self._pending and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._pending.values()), timeout=remaining)
        while self._pending:
            still_running = list(self._pending.values())
            for delivery in still_running:
                delivery.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
            await asyncio.sleep(0)  # the done callbacks of cancelled first attempts run

    async def _run(self) -> None:
        key = self.trigger.key
        start = self._log.cursor(key)
        if start is None:  # the runtime records a new Trigger's start (at the head) first
            raise RuntimeError(f"trigger {key} has no recorded start in its broker's log")
        self._position = start
        while not self._stopping:
            records = self._log.read_after(self._position, READ_BATCH)
            if not records:
                quiet_until = await self._log.wait_beyond(self._position, self._event_type)
                if quiet_until > self._position:  # nothing there this Trigger could match
                    self._position = quiet_until
                    if not self._pending:
                        self._log.set_cursor(key, quiet_until)
                continue
            for record in records:
                if self.trigger.filter.matches(record.event):
                    while not self._free_slots:
                        self._slot_freed = asyncio.get_running_loop().create_future()
                        await self._slot_freed
                    self._free_slots -= 1
                    self._start_delivery(record)
                # Only now: while waiting for a slot, the cursor must stay before this record.
                self._position = record.seq
            if not self._pending:
                self._log.set_cursor(key, self._position)

    def _start_delivery(self, record: LogRecord) -> None:
        """The first attempt on an idle pooled connection, without a task when it can be."""
        try:
            headers, body = self._outgoing.get(record.event, structured=self._structured)
        except Exception as error:  # a bug; the event goes to the dead-letter store, no stall
            self._track(record, self._undeliverable(record, error))
            return
        try:
            first = self._client.send_on_idle(
                "POST",
                self.trigger.subscriber,
                headers,
                body,
                timeout=attempt_timeout(self.trigger.delivery),
                on_done=partial(self._first_answer, record),
            )
        except HttpClientError:  # the task's attempts fail the same way, then dead-letter it
            first = None
        if first is None:
            self._hand_to_task(record, None)
        else:
            self._pending[record.seq] = first

    def _first_answer(self, record: LogRecord, answer: asyncio.Future[ClientResponse]) -> None:
        if answer.cancelled():
            self._finished(record.seq, cancelled=True)
            return
        error = answer.exception()
        if isinstance(error, StaleConnectionError):
            self._hand_to_task(record, None)  # nothing was sent: a fresh first attempt
            return
        if error is None:
            attempt = attempt_of(answer.result())
            if settled_delivery(attempt) is not None:
                self._count_delivered(record)
                self._finished(record.seq, cancelled=False)
                return
        elif isinstance(error, TimeoutError | HttpClientError):
            attempt = failed_attempt(error, attempt_timeout(self.trigger.delivery))
        else:  # a bug; still retried and dead-lettered rather than stuck in the window
            attempt = Attempt(None, b"", {}, f"{type(error).__name__}: {error}")
        self._hand_to_task(record, attempt)

    def _hand_to_task(self, record: LogRecord, first: Attempt | None) -> None:
        self._track(record, self._deliver_or_store(record, first))

    def _track(self, record: LogRecord, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._pending[record.seq] = task  # an existing key keeps its place in the order
        task.add_done_callback(lambda done: self._finished(record.seq, done.cancelled()))

    def _finished(self, seq: int, cancelled: bool) -> None:
        del self._pending[seq]
        self._free_slots += 1
        freed = self._slot_freed
        if freed is not None and not freed.done():
            freed.set_result(None)
        if self._stopping and cancelled:
            return
        pending = self._pending
        low_watermark = next(iter(pending)) - 1 if pending else self._position
        self._log.set_cursor(self.trigger.key, low_watermark)

    def _count_delivered(self, record: LogRecord) -> None:
        self._metrics.record(max(0.0, time.time() - record.arrival))

    async def _deliver_or_store(self, record: LogRecord, first: Attempt | None) -> None:
        """`_deliver`; should it fail on a bug, the event is kept as a dead letter, not lost."""
        try:
            await self._deliver(record, first)
        except Exception as error:
            await self._undeliverable(record, error)

    async def _undeliverable(self, record: LogRecord, error: Exception) -> None:
        reason = f"the broker could not deliver it: {type(error).__name__}: {error}"
        log_json(
            logging.ERROR,
            "delivery failed on a broker error; the event is kept as a dead letter",
            trigger=self.trigger.key,
            event_id=record.event.id,
            error=reason,
        )
        self._metrics.dead_lettered += 1
        dead = DeadLetter(self.trigger.key, record.event, reason, None, time.time())
        try:
            await self._log.add_dead_letter(dead)
        except Exception as store_error:  # the log says what was lost; the Trigger reads on
            log_json(
                logging.ERROR,
                "the event could not be kept as a dead letter either",
                trigger=self.trigger.key,
                event_id=record.event.id,
                error=f"{type(store_error).__name__}: {store_error}",
            )

    async def _deliver(self, record: LogRecord, first: Attempt | None) -> None:
        trigger = self.trigger
        headers, body = self._outgoing.get(record.event, structured=self._structured)
        outcome = await send_with_retries(
            self._client,
            trigger.subscriber,
            headers,
            body,
            trigger.delivery,
            on_retry=self._note_retry,
            first=first,
        )
        if isinstance(outcome, Delivered):
            self._count_delivered(record)
            if outcome.reply is not None:
                await self._ingest_reply(record.event, outcome.reply)
                self._metrics.replies += 1
            return
        await self._dead_letter(record, outcome)

    def _note_retry(self, attempt: Attempt) -> None:
        self._metrics.retried += 1
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
        self._metrics.dead_lettered += 1
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
