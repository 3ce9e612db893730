"""PingSources: emit `dev.knative.sources.ping` on a cron schedule (or, locally, a period).

Knative sources spec, PingSource: the event has type `dev.knative.sources.ping`, source
`/apis/v1/namespaces/<namespace>/pingsources/<name>`, the configured data and content type, and
is sent to the sink. A tick is sent with the default delivery retries; a slow sink never delays
the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from local_broker.deliver import Delivered, deliver_with_retries
from local_broker.event import CloudEvent
from local_broker.http.client import HttpClient
from local_broker.jsonlog import log_json
from local_broker.manifests import DEFAULT_DELIVERY, PingSource
from local_broker.stamping import rfc3339

PING_TYPE = "dev.knative.sources.ping"


def ping_event(source: PingSource, moment: datetime) -> CloudEvent:
    attributes: dict[str, str | int | bool] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source.source,
        "type": PING_TYPE,
        "time": rfc3339(moment),
    }
    if source.data is not None and source.content_type:
        attributes["datacontenttype"] = source.content_type
    # Knative sources spec, "CloudEvent Overrides": extensions added to every event sent.
    attributes.update(source.ce_overrides)
    return CloudEvent(attributes, source.data)


def next_tick(source: PingSource, after: datetime) -> datetime:
    if source.period_seconds is not None:
        return datetime.fromtimestamp(after.timestamp() + source.period_seconds, UTC)
    assert source.schedule is not None
    zone = ZoneInfo(source.timezone) if source.timezone else UTC
    return source.schedule.next_after(after.astimezone(zone))


class PingScheduler:
    def __init__(self, client: HttpClient) -> None:
        self._client = client
        self._tasks: dict[PingSource, asyncio.Task[None]] = {}
        self._sends: set[asyncio.Task[None]] = set()

    def apply(self, sources: Sequence[PingSource]) -> None:
        wanted = set(sources)
        for source in list(self._tasks):
            if source not in wanted:
                self._tasks.pop(source).cancel()
        for source in wanted:
            if source not in self._tasks:
                self._tasks[source] = asyncio.create_task(
                    self._run(source), name=f"pingsource {source.namespace}/{source.name}"
                )

    async def _run(self, source: PingSource) -> None:
        moment = datetime.now(UTC)
        while True:
            moment = next_tick(source, moment)
            await asyncio.sleep(max(0.0, moment.timestamp() - time.time()))
            send = asyncio.create_task(self._send(source, ping_event(source, moment)))
            self._sends.add(send)
            send.add_done_callback(self._sends.discard)

    async def _send(self, source: PingSource, event: CloudEvent) -> None:
        outcome = await deliver_with_retries(self._client, source.sink, event, DEFAULT_DELIVERY)
        if not isinstance(outcome, Delivered):
            log_json(
                logging.WARNING,
                "ping not delivered",
                pingsource=f"{source.namespace}/{source.name}",
                sink=source.sink,
                reason=outcome.reason,
            )

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *self._sends]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
