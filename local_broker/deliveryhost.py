"""The broker's side of its delivery process (`--delivery process`, the default).

One event loop that both ingests and delivers is what limits the broker (docs/benchmarks.md):
so the Triggers' dispatchers run in a process of their own (deliverychild.py), on a core of
their own, while this process keeps the ingress, the logs and their writers. What passes
between the two (channel.py):

- to the delivery process: the manifests' documents and each Broker's head and cursors on
  every (re)configuration, and after each group commit the Broker's new head (one small
  message per commit, not per event: it reads the events from the log itself);
- from it: cursor flushes, dead letters and replies, which this process writes as it would
  its own; and on a scrape of /metrics, the Triggers' counts.

Should the delivery process die, it is started again from the last flushed cursors (what it
had delivered since is delivered again: at-least-once), after a pause that keeps a process
that cannot start from spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any

from local_broker.channel import Channel, ChannelClosed
from local_broker.event import CloudEvent
from local_broker.jsonlog import log_json
from local_broker.log import EventLog
from local_broker.manifests import BrokerConfig
from local_broker.metrics import BrokerMetrics
from local_broker.resources import BrokerKey
from local_broker.settings import SHUTDOWN_GRACE_SECONDS, BrokerSettings

Ingest = Callable[[BrokerKey, Sequence[CloudEvent]], Awaitable[object]]
METRICS_TIMEOUT_SECONDS = 2.0
EXIT_TIMEOUT_SECONDS = SHUTDOWN_GRACE_SECONDS + 10.0
RESTART_PAUSE_SECONDS = 1.0


class DeliveryHost:
    def __init__(
        self, settings: BrokerSettings, ingress_base: str, metrics: BrokerMetrics, ingest: Ingest
    ) -> None:
        self._settings = settings
        self._ingress_base = ingress_base
        self._metrics = metrics
        self._ingest = ingest
        self._process: subprocess.Popen[bytes] | None = None
        self._ours: socket.socket | None = None  # spawned, not yet connected
        self._channel: Channel | None = None
        self._config: BrokerConfig | None = None
        self._logs: Mapping[BrokerKey, EventLog] = {}
        self._watched: dict[BrokerKey, EventLog] = {}  # the logs whose commits are announced
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The delivery process's pid, while it runs."""
        return None if self._process is None else self._process.pid

    def spawn(self) -> None:
        """Start the process now: its imports take a moment, which then overlap the broker's
        own start-up (opening the logs); `apply` connects to it."""
        if self._process is None:
            self._ours = self._spawn()

    def _spawn(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "local_broker.deliverychild", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ours

    async def apply(self, config: BrokerConfig, logs: Mapping[BrokerKey, EventLog]) -> None:
        self._config, self._logs = config, logs
        for broker, log in logs.items():
            if self._watched.get(broker) is not log:  # new, or closed and opened again
                self._watched[broker] = log
                log.watch_commits(partial(self._announce, broker))
        if self._channel is None:
            await self._connect(self._ours or self._spawn())
            self._ours = None
            self._supervisor = asyncio.create_task(self._supervise(), name="delivery process")
        else:
            await self._send_config(self._channel)

    async def _connect(self, ours: socket.socket) -> None:
        channel = await Channel.over(ours, self._serve, _hear_nothing)
        self._channel = channel  # commits are announced from now on
        await channel.call("start", self._settings, self._ingress_base)
        await self._send_config(channel)

    async def _send_config(self, channel: Channel) -> None:
        assert self._config is not None
        states = {
            broker: (log.head(), log.cursors())
            for broker, log in self._logs.items()
            if broker in self._config.brokers
        }
        await channel.call("apply", self._config.documents, states)

    def _announce(self, broker: BrokerKey) -> None:
        """After a commit to `broker`'s log (on the loop): tell the delivery process."""
        channel, log = self._channel, self._logs.get(broker)
        if channel is not None and log is not None:
            channel.tell("heads", {broker: log.head()})

    async def _serve(self, method: str, args: tuple[Any, ...]) -> object:
        broker: BrokerKey = args[0]
        log = self._logs.get(broker)
        if log is None:
            raise LookupError(f"broker {'/'.join(broker)} is gone")
        if method == "cursors":
            positions, forgotten = args[1], args[2]
            for key, seq in positions.items():
                log.set_cursor(key, seq)
            for key in forgotten:
                log.forget_trigger(key)
            await log.flush_cursors()
            return None
        if method == "dead letter":
            await log.add_dead_letter(args[1])
            return None
        if method == "reply":
            await self._ingest(broker, [args[1]])
            return None
        raise ValueError(f"the broker's process has no call {method!r}")

    async def refresh_metrics(self) -> None:
        """Fetch the Triggers' counts; if the process does not answer, keep the last ones."""
        if self._channel is None:
            return
        with contextlib.suppress(ChannelClosed, TimeoutError):
            snapshot = await asyncio.wait_for(
                self._channel.call("metrics"), METRICS_TIMEOUT_SECONDS
            )
            self._metrics.count_elsewhere(snapshot)

    async def _supervise(self) -> None:
        """Start the delivery process again should it die."""
        while True:
            channel, process = self._channel, self._process
            assert channel is not None
            assert process is not None
            await channel.closed
            if self._stopping:
                return
            self._channel = None
            await self._end_process()
            code = process.returncode
            log_json(
                logging.ERROR,
                "the delivery process exited; starting it again from the last flushed cursors",
                exit_code=code,
            )
            await channel.close()
            await asyncio.sleep(RESTART_PAUSE_SECONDS)
            while not self._stopping:
                try:
                    await self._connect(self._spawn())
                    break
                except (ChannelClosed, OSError) as error:
                    log_json(logging.ERROR, "the delivery process did not start", error=str(error))
                    await self._end_process()
                    await asyncio.sleep(RESTART_PAUSE_SECONDS)
            if self._stopping:
                return

    async def stop(self) -> None:
        """Let the delivery process finish (deliveries in flight get the shutdown grace),
        flush its cursors through this process, and exit."""
        self._stopping = True
        channel = self._channel
        if channel is not None:
            with contextlib.suppress(ChannelClosed):
                await channel.call("stop", SHUTDOWN_GRACE_SECONDS)
            await channel.close()
        if self._ours is not None:  # spawned, never connected: it exits when this end closes
            self._ours.close()
            self._ours = None
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        await self._end_process()

    async def _end_process(self) -> None:
        """Wait for the process to exit (it was told to, or its channel closed); kill it if
        it does not."""
        process = self._process
        if process is None:
            return
        try:
            await asyncio.to_thread(process.wait, EXIT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


def _hear_nothing(method: str, _args: tuple[Any, ...]) -> None:
    log_json(logging.WARNING, "unexpected message from the delivery process", method=method)
