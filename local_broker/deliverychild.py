"""The delivery process (`--delivery process`): the Triggers' dispatchers, beside the ingress.

    python -m local_broker.deliverychild FD

The broker's process starts it with FD, its end of a socketpair (channel.py), and drives it
with calls: `start` (settings), `apply` (the manifests' documents and each Broker's head and
cursors), `metrics` (the Triggers' counts), `stop`. Commit notices (`heads`) arrive as tells.
It calls back for every write (cursors, dead letters, replies): the broker's process owns the
logs (deliverylog.py).

It ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole process group; the broker's process
stops it in order) and exits when the broker's process is gone: whatever it was delivering is
behind the last flushed cursor and is delivered again after the broker restarts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
from typing import Any

import uvloop

from local_broker.channel import Channel
from local_broker.deliverylog import DeliveryLog, WriteThrough
from local_broker.dispatchers import Dispatchers
from local_broker.event import CloudEvent
from local_broker.http.client import HttpClient
from local_broker.jsonlog import log_json
from local_broker.logerrors import LogError
from local_broker.manifests import Documents, build_config
from local_broker.metrics import BrokerMetrics
from local_broker.resources import BrokerKey
from local_broker.settings import CURSOR_FLUSH_SECONDS, GC_THRESHOLDS, BrokerSettings

# Each Broker's head and its Triggers' cursors, as the broker's process has them.
LogStates = dict[BrokerKey, tuple[int, dict[str, int]]]


class DeliveryWorker:
    """Everything the delivery process runs; the channel's `serve` and `hear`."""

    def __init__(self) -> None:
        self.metrics = BrokerMetrics()
        self.channel: Channel | None = None
        self.done = asyncio.Event()
        self._settings = BrokerSettings()
        self._ingress_base = ""
        self._client: HttpClient | None = None
        self._dispatchers: Dispatchers | None = None
        self._logs: dict[BrokerKey, DeliveryLog] = {}
        # The newest head announced for each Broker: a notice may overtake the `apply` call
        # (calls run as tasks, notices at once) that opens the Broker's log here.
        self._heads: dict[BrokerKey, int] = {}
        self._housekeeping: asyncio.Task[None] | None = None

    async def serve(self, method: str, args: tuple[Any, ...]) -> object:
        if method == "start":
            self._start(*args)
            return None
        if method == "apply":
            await self._apply(*args)
            return None
        if method == "metrics":
            return self.metrics.snapshot()
        if method == "stop":
            await self._stop(*args)
            return None
        raise ValueError(f"the delivery process has no call {method!r}")

    def hear(self, method: str, args: tuple[Any, ...]) -> None:
        if method == "heads":
            heads: dict[BrokerKey, int] = args[0]
            for broker, head in heads.items():
                self._heads[broker] = max(head, self._heads.get(broker, 0))
                log = self._logs.get(broker)
                if log is None:
                    continue
                try:
                    log.advance(head)
                except LogError as error:  # read again on the next commit's notice
                    log_json(logging.ERROR, "the event log could not be read", error=str(error))

    def _start(self, settings: BrokerSettings, ingress_base: str) -> None:
        self._settings, self._ingress_base = settings, ingress_base
        self._client = HttpClient(max_body_bytes=settings.max_event_bytes)
        self._dispatchers = Dispatchers(
            self._client, self.metrics, self._ingest_reply, window=settings.in_flight_per_trigger
        )
        self._housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")

    async def _apply(self, documents: Documents, states: LogStates) -> None:
        assert self._dispatchers is not None, "start first"
        base = self._ingress_base
        config = build_config(
            documents,
            self._settings.services,
            broker_url=lambda namespace, name: f"{base}/{namespace}/{name}",
            on_cesql_error=self._count_cesql_error,
        )
        for broker, (head, cursors) in states.items():
            if broker not in self._logs:
                log = DeliveryLog(
                    self._settings.log_path(broker), head, cursors, self._writer_for(broker)
                )
                log.advance(max(head, self._heads.get(broker, 0)))
                self._logs[broker] = log
        await self._dispatchers.apply(config.triggers, self._logs)
        for broker in [broker for broker in self._logs if broker not in states]:
            await self._logs[broker].flush_cursors()
            self._logs.pop(broker).close()
            self._heads.pop(broker, None)

    def _writer_for(self, broker: BrokerKey) -> WriteThrough:
        async def write(what: str, args: tuple[object, ...]) -> object:
            assert self.channel is not None
            return await self.channel.call(what, broker, *args)

        return write

    def _count_cesql_error(self, trigger: str, _error: object) -> None:
        self.metrics.for_trigger(trigger).filter_errors += 1

    async def _ingest_reply(self, broker: BrokerKey, reply: CloudEvent) -> object:
        assert self.channel is not None
        return await self.channel.call("reply", broker, reply)

    async def _keep_house(self) -> None:
        while True:
            await asyncio.sleep(CURSOR_FLUSH_SECONDS)
            for log in list(self._logs.values()):
                log.wake_type_waiters()  # Triggers that matched nothing lately move on too
                flushed = log.flush_cursors()
                flushed.add_done_callback(_report_flush)

    async def _stop(self, grace_seconds: float) -> None:
        """Finish or cancel what is in flight, flush every cursor, close the logs."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            await asyncio.gather(self._housekeeping, return_exceptions=True)
        if self._dispatchers is not None:
            await self._dispatchers.stop(grace_seconds)
        await asyncio.gather(*(log.flush_cursors() for log in self._logs.values()))
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        if self._client is not None:
            await self._client.close()
        self.done.set()


def _report_flush(flushed: asyncio.Future[None]) -> None:
    if not flushed.cancelled() and (error := flushed.exception()) is not None:
        log_json(logging.ERROR, "cursors not flushed; trying again", error=str(error))


async def _run(fd: int) -> None:
    worker = DeliveryWorker()
    sock = socket.socket(fileno=fd)
    channel = await Channel.over(sock, worker.serve, worker.hear)
    worker.channel = channel
    gc.freeze()
    # Done when stopped (after answering) or when the broker's process is gone.
    stopped = asyncio.ensure_future(worker.done.wait())
    gone = asyncio.ensure_future(_closed(channel))
    await asyncio.wait([stopped, gone], return_when=asyncio.FIRST_COMPLETED)
    if stopped.done():
        await asyncio.sleep(0)  # the stop call's answer goes out
    stopped.cancel()
    await channel.close()


async def _closed(channel: Channel) -> bool:
    await channel.closed
    return True


def main(argv: list[str]) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    # The same stderr as the broker's process, and the same JSON lines (`shoal broker`).
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    gc.set_threshold(*GC_THRESHOLDS)  # as the broker's process, for the same reasons
    uvloop.run(_run(int(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
