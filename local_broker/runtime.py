"""The running broker: one durable log per Broker, one dispatcher per Trigger, PingSources.

`apply(config)` moves the running set to a new configuration (the manifests were edited):
Triggers that are new start at the log's head, removed ones stop and forget their cursor,
changed ones restart from their cursor. Logs of Brokers that disappear are closed, not deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from local_broker.deliver import OutgoingRequests
from local_broker.dispatch import TriggerDispatcher
from local_broker.event import CloudEvent
from local_broker.http.client import HttpClient
from local_broker.jsonlog import log_json
from local_broker.log import EventLog
from local_broker.manifests import BrokerConfig, Trigger
from local_broker.metrics import BrokerMetrics
from local_broker.pinger import PingScheduler
from local_broker.settings import BrokerSettings
from local_broker.stamping import (
    ArrivalClock,
    TTLExhaustedError,
    reply_with_ttl,
    stamp_for_ingress,
)

BrokerKey = tuple[str, str]
SHUTDOWN_GRACE_SECONDS = 5.0
CURSOR_FLUSH_SECONDS = 0.5


class BrokerRuntime:
    def __init__(self, settings: BrokerSettings, metrics: BrokerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.config: BrokerConfig | None = None
        self.logs: dict[BrokerKey, EventLog] = {}
        self._dispatchers: dict[str, TriggerDispatcher] = {}
        self._client: HttpClient | None = None
        self._outgoing = OutgoingRequests()  # shared: Triggers of a Broker deliver the same events
        self._pings: PingScheduler | None = None
        self._arrival_clock = ArrivalClock()
        self._housekeeping: asyncio.Task[None] | None = None
        self.ready = False

    @property
    def client(self) -> HttpClient:
        assert self._client is not None, "start() the runtime first"
        return self._client

    async def start(self, config: BrokerConfig) -> None:
        # A reply can be no larger than what the ingress takes (--max-event-bytes).
        self._client = HttpClient(max_body_bytes=self.settings.max_event_bytes)
        self._pings = PingScheduler(self.client)
        await self.apply(config)
        self._housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")
        self.ready = True

    async def apply(self, config: BrokerConfig) -> None:
        """Move to `config`: open logs for new Brokers, (re)start changed Triggers."""
        for broker in config.brokers:
            if broker not in self.logs:
                self.logs[broker] = await asyncio.to_thread(self._open_log, broker)
        wanted = {trigger.key: trigger for trigger in config.triggers}
        for key, dispatcher in list(self._dispatchers.items()):
            if wanted.get(key) != dispatcher.trigger:
                await dispatcher.stop(grace_seconds=0.0)
                del self._dispatchers[key]
                if key not in wanted:
                    self.logs[_broker_of(dispatcher.trigger)].forget_trigger(key)
        new = [trigger for key, trigger in wanted.items() if key not in self._dispatchers]
        await self._record_starts(new)
        for trigger in new:
            self._dispatchers[trigger.key] = self._start_dispatcher(trigger)
        for broker in [broker for broker in self.logs if broker not in config.brokers]:
            await self.logs.pop(broker).close()
        assert self._pings is not None
        self._pings.apply(config.ping_sources)
        self.config = config

    async def _record_starts(self, triggers: Sequence[Trigger]) -> None:
        """A Trigger never seen before starts at its log's head, as on Knative: it sees events
        accepted from now on. That position is made durable before the Trigger (and, at
        start-up, the ingress) goes to work; held only in memory, a crash would leave the
        Trigger new again and starting past the events it had been given."""
        started: dict[BrokerKey, EventLog] = {}
        for trigger in triggers:
            broker = _broker_of(trigger)
            log = self.logs[broker]
            if log.cursor(trigger.key) is None:
                log.set_cursor(trigger.key, log.head())
                started[broker] = log
        await asyncio.gather(*(log.flush_cursors() for log in started.values()))

    def _open_log(self, key: BrokerKey) -> EventLog:
        namespace, name = key
        return EventLog.open(
            self.settings.data_dir / "brokers" / namespace / f"{name}.db",
            retention_seconds=self.settings.retention_seconds,
            dedup_window_seconds=self.settings.dedup_window_seconds,
            writer_process=self.settings.log_writer == "process",
        )

    def _start_dispatcher(self, trigger: Trigger) -> TriggerDispatcher:
        log = self.logs[_broker_of(trigger)]

        async def ingest_reply(delivered: CloudEvent, reply: CloudEvent) -> None:
            try:
                await self.ingest(_broker_of(trigger), [reply_with_ttl(delivered, reply)])
            except TTLExhaustedError as error:
                log_json(logging.ERROR, "reply dropped", trigger=trigger.key, reason=str(error))

        dispatcher = TriggerDispatcher(
            trigger,
            log,
            self.client,
            ingest_reply,
            self.metrics,
            window=self.settings.in_flight_per_trigger,
            outgoing=self._outgoing,
        )
        dispatcher.start()
        return dispatcher

    async def ingest(self, broker: BrokerKey, events: Sequence[CloudEvent]) -> list[int | None]:
        """Stamp and durably append events; returns once they are committed.

        Raises TTLExhaustedError (nothing is appended) when any event's TTL ran out.
        """
        sequences = await self.start_ingest(broker, events)
        self.count_stored(broker, sequences)
        return sequences

    def start_ingest(
        self, broker: BrokerKey, events: Sequence[CloudEvent]
    ) -> asyncio.Future[list[int | None]]:
        """`ingest` without a coroutine: the future settles once the events are committed,
        and its owner then calls `count_stored`. The ingress answers from the future's
        callback, which spares a task per request.

        TTLExhaustedError and LogClosed are raised at once (nothing is appended).
        """
        now = time.time()
        arrival = self._arrival_clock.stamp(now)
        stamped = [stamp_for_ingress(event, arrival) for event in events]
        return self.logs[broker].start_append(stamped, now=now)

    def count_stored(self, broker: BrokerKey, sequences: list[int | None]) -> None:
        accepted = sum(1 for seq in sequences if seq is not None)
        counters = self.metrics.for_broker("/".join(broker))
        counters.accepted += accepted
        counters.duplicates += len(sequences) - accepted

    async def _keep_house(self) -> None:
        last_prune = 0.0
        while True:
            await asyncio.sleep(CURSOR_FLUSH_SECONDS)
            for log in self.logs.values():
                log.wake_type_waiters()  # Triggers that matched nothing lately move on too
                log.flush_cursors()
            now = time.time()
            if now - last_prune > 60.0:
                last_prune = now
                for log in self.logs.values():
                    await asyncio.to_thread(log.prune, now=now)

    async def stop(self) -> None:
        self.ready = False
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            await asyncio.gather(self._housekeeping, return_exceptions=True)
        if self._pings is not None:
            await self._pings.stop()
        await asyncio.gather(
            *(d.stop(SHUTDOWN_GRACE_SECONDS) for d in self._dispatchers.values()),
        )
        self._dispatchers.clear()
        for log in self.logs.values():
            await log.close()
        self.logs.clear()
        if self._client is not None:
            await self._client.close()


def _broker_of(trigger: Trigger) -> BrokerKey:
    return (trigger.namespace, trigger.broker)
