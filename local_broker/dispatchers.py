"""The running Triggers: one `TriggerDispatcher` each, moved from one configuration to the next.

`apply(triggers, logs)` starts the Triggers that are new at their log's head, restarts changed
ones from their cursor and stops removed ones (forgetting their cursor). It runs in the
broker's process (`--delivery inline`) or in a delivery process of its own (deliverychild.py);
either way the logs are `DispatchLog`s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from local_broker.deliver import OutgoingRequests
from local_broker.dispatch import DispatchLog, TriggerDispatcher
from local_broker.event import CloudEvent
from local_broker.http.client import HttpClient
from local_broker.jsonlog import log_json
from local_broker.metrics import BrokerMetrics
from local_broker.resources import BrokerKey, Trigger
from local_broker.stamping import TTLExhaustedError, reply_with_ttl

# Ingests a reply (its TTL already taken from the event it answers) into a Broker's log.
IngestReply = Callable[[BrokerKey, CloudEvent], Awaitable[object]]
Logs = Mapping[BrokerKey, DispatchLog]


def broker_of(trigger: Trigger) -> BrokerKey:
    return (trigger.namespace, trigger.broker)


class Dispatchers:
    def __init__(
        self,
        client: HttpClient,
        metrics: BrokerMetrics,
        ingest_reply: IngestReply,
        *,
        window: int,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._ingest_reply = ingest_reply
        self._window = window
        self._running: dict[str, TriggerDispatcher] = {}
        self._outgoing = OutgoingRequests()  # shared: Triggers of a Broker deliver the same events

    async def apply(self, triggers: Sequence[Trigger], logs: Logs) -> None:
        """Run exactly `triggers`; every Broker they name has its log in `logs`."""
        wanted = {trigger.key: trigger for trigger in triggers}
        for key, dispatcher in list(self._running.items()):
            if wanted.get(key) != dispatcher.trigger:
                await dispatcher.stop(grace_seconds=0.0)
                del self._running[key]
                if key not in wanted and broker_of(dispatcher.trigger) in logs:
                    logs[broker_of(dispatcher.trigger)].forget_trigger(key)
        new = [trigger for key, trigger in wanted.items() if key not in self._running]
        await _record_starts(new, logs)
        for trigger in new:
            self._running[trigger.key] = self._start(trigger, logs[broker_of(trigger)])

    def _start(self, trigger: Trigger, log: DispatchLog) -> TriggerDispatcher:
        broker = broker_of(trigger)

        async def ingest_reply(delivered: CloudEvent, reply: CloudEvent) -> None:
            try:
                await self._ingest_reply(broker, reply_with_ttl(delivered, reply))
            except TTLExhaustedError as error:
                log_json(logging.ERROR, "reply dropped", trigger=trigger.key, reason=str(error))

        dispatcher = TriggerDispatcher(
            trigger,
            log,
            self._client,
            ingest_reply,
            self._metrics,
            window=self._window,
            outgoing=self._outgoing,
        )
        dispatcher.start()
        return dispatcher

    async def stop(self, grace_seconds: float) -> None:
        """Stop every Trigger; deliveries in flight get `grace_seconds` to finish."""
        await asyncio.gather(*(d.stop(grace_seconds) for d in self._running.values()))
        self._running.clear()


async def _record_starts(triggers: Sequence[Trigger], logs: Logs) -> None:
    """A Trigger never seen before starts at its log's head, as on Knative: it sees events
    accepted from now on. That position is made durable before the Trigger (and, at start-up,
    the ingress) goes to work; held only in memory, a crash would leave the Trigger new again
    and starting past the events it had been given."""
    started: dict[BrokerKey, DispatchLog] = {}
    for trigger in triggers:
        broker = broker_of(trigger)
        log = logs[broker]
        if log.cursor(trigger.key) is None:
            log.set_cursor(trigger.key, log.head())
            started[broker] = log
    await asyncio.gather(*(log.flush_cursors() for log in started.values()))
