"""The running broker: one durable log per Broker, one dispatcher per Trigger, PingSources.

`apply(config)` moves the running set to a new configuration (the manifests were edited):
Triggers that are new start at the log's head, removed ones stop and forget their cursor,
changed ones restart from their cursor (dispatchers.py). Logs of Brokers that disappear are
closed, not deleted. The dispatchers run in this process (`--delivery inline`) or in a
delivery process of its own (`--delivery process`, deliveryhost.py), which reads the same
logs and writes through this process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from local_broker.arrival import ArrivalClock
from local_broker.deliveryhost import DeliveryHost
from local_broker.dispatchers import Dispatchers
from local_broker.event import CloudEvent
from local_broker.http.client import HttpClient
from local_broker.log import EventLog
from local_broker.logtail import MEMORY_TAIL
from local_broker.manifests import BrokerConfig
from local_broker.metrics import BrokerMetrics
from local_broker.pinger import PingScheduler
from local_broker.resources import BrokerKey
from local_broker.settings import (
    CURSOR_FLUSH_SECONDS,
    SHUTDOWN_GRACE_SECONDS,
    BrokerSettings,
)
from local_broker.stamping import stamp_for_ingress


class Deliveries(Protocol):
    """Where the Triggers' dispatchers run: here (`InlineDeliveries`) or in a process of their
    own (`DeliveryHost`)."""

    @property
    def pid(self) -> int | None: ...
    async def apply(self, config: BrokerConfig, logs: Mapping[BrokerKey, EventLog]) -> None: ...
    async def refresh_metrics(self) -> None: ...
    async def stop(self) -> None: ...


class InlineDeliveries:
    """The dispatchers on this process's event loop, reading the logs' memory tails."""

    def __init__(self, runtime: BrokerRuntime) -> None:
        self._dispatchers = Dispatchers(
            runtime.client,
            runtime.metrics,
            lambda broker, reply: runtime.ingest(broker, [reply]),
            window=runtime.settings.in_flight_per_trigger,
        )

    async def apply(self, config: BrokerConfig, logs: Mapping[BrokerKey, EventLog]) -> None:
        await self._dispatchers.apply(config.triggers, logs)

    @property
    def pid(self) -> int | None:
        return None  # no process of their own

    async def refresh_metrics(self) -> None:
        return None  # counted in this process's metrics already

    async def stop(self) -> None:
        await self._dispatchers.stop(SHUTDOWN_GRACE_SECONDS)


class BrokerRuntime:
    def __init__(self, settings: BrokerSettings, metrics: BrokerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.config: BrokerConfig | None = None
        self.logs: dict[BrokerKey, EventLog] = {}
        self._deliveries: Deliveries | None = None
        self._client: HttpClient | None = None
        self._pings: PingScheduler | None = None
        self._arrival_clock = ArrivalClock()
        self._housekeeping: asyncio.Task[None] | None = None
        self.ready = False

    @property
    def delivery_pid(self) -> int | None:
        """The delivery process's pid (`--delivery process`, while it runs), else None."""
        return None if self._deliveries is None else self._deliveries.pid

    @property
    def client(self) -> HttpClient:
        assert self._client is not None, "start() the runtime first"
        return self._client

    async def start(self, config: BrokerConfig, ingress_base: str) -> None:
        """Open the logs, start the dispatchers and PingSources. `ingress_base` is the
        broker's own URL (`http://HOST:PORT`), where a `ref` to one of its Brokers points."""
        # A reply can be no larger than what the ingress takes (--max-event-bytes).
        self._client = HttpClient(max_body_bytes=self.settings.max_event_bytes)
        self._pings = PingScheduler(self.client)
        if self.settings.delivery == "process":
            host = DeliveryHost(self.settings, ingress_base, self.metrics, self.ingest)
            host.spawn()
            self._deliveries = host
        else:
            self._deliveries = InlineDeliveries(self)
        try:
            await self.apply(config)
        except BaseException:
            await self.stop()  # what started (a delivery process, logs) ends here
            raise
        self._housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")
        self.ready = True

    async def apply(self, config: BrokerConfig) -> None:
        """Move to `config`: open logs for new Brokers, (re)start changed Triggers."""
        assert self._deliveries is not None, "start() the runtime first"
        for broker in config.brokers:
            if broker not in self.logs:
                self.logs[broker] = await asyncio.to_thread(self._open_log, broker)
        await self._deliveries.apply(config, self.logs)
        for broker in [broker for broker in self.logs if broker not in config.brokers]:
            await self.logs.pop(broker).close()
        assert self._pings is not None
        self._pings.apply(config.ping_sources)
        self.config = config

    def _open_log(self, key: BrokerKey) -> EventLog:
        return EventLog.open(
            self.settings.log_path(key),
            retention_seconds=self.settings.retention_seconds,
            dedup_window_seconds=self.settings.dedup_window_seconds,
            # The delivery process keeps a memory tail of its own (deliverylog.py).
            memory_tail=0 if self.settings.delivery == "process" else MEMORY_TAIL,
            writer_process=self.settings.log_writer == "process",
        )

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
        if self._deliveries is not None:
            await self._deliveries.stop()
        for log in self.logs.values():
            await log.close()
        self.logs.clear()
        if self._client is not None:
            await self._client.close()

    async def metrics_exposition(self) -> bytes:
        """The Prometheus text, with the delivery process's counts when it has one."""
        if self._deliveries is not None:
            await self._deliveries.refresh_metrics()
        return self.metrics.exposition()
