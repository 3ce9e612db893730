"""Assembling and running the broker: HTTP server, runtime, manifest watching, signals."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import uvloop

from local_broker.cesql import CesqlError
from local_broker.http.server import HttpServer, ServerLimits
from local_broker.jsonlog import log_json
from local_broker.manifests import BrokerConfig, ManifestError, load_manifests
from local_broker.metrics import BrokerMetrics
from local_broker.routes import broker_handler
from local_broker.runtime import BrokerRuntime
from local_broker.settings import GC_THRESHOLDS, BrokerSettings

Fingerprint = tuple[tuple[str, int, int], ...]
YAML_SUFFIXES = (".yaml", ".yml")
# Requests still being answered at shutdown get this long (ingress answers 503 by then).
HTTP_SHUTDOWN_GRACE_SECONDS = 5.0


def manifest_fingerprint(paths: tuple[Path, ...]) -> Fingerprint:
    """What changes when a manifest file is added, removed or edited."""
    entries: list[tuple[str, int, int]] = []
    for path in paths:
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for file in files:
            if file.suffix in YAML_SUFFIXES and file.is_file():
                with contextlib.suppress(FileNotFoundError):
                    stat = file.stat()
                    entries.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


class BrokerServer:
    """One broker process: `await start()` (raises ManifestError on a bad manifest), `stop()`."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self.metrics = BrokerMetrics()
        self.runtime = BrokerRuntime(settings, self.metrics)
        self._http: HttpServer | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.port = settings.port

    def _load(self) -> BrokerConfig:
        # A `ref` to a Broker resolves to this process's own ingress for that Broker.
        return load_manifests(
            list(self.settings.manifests),
            self.settings.services,
            broker_url=self.ingress_url,
            on_cesql_error=self._count_cesql_error,
        )

    def _count_cesql_error(self, trigger: str, _error: CesqlError) -> None:
        self.metrics.for_trigger(trigger).filter_errors += 1

    def ingress_url(self, namespace: str = "default", name: str = "default") -> str:
        return f"{self.url}/{namespace}/{name}"

    async def start(self) -> None:
        fingerprint = manifest_fingerprint(self.settings.manifests)
        self._load()  # a bad manifest fails before anything listens
        limits = ServerLimits(max_body_bytes=self.settings.max_event_bytes)
        self._http = HttpServer(broker_handler(self.runtime), limits)
        try:
            self.port = await self._http.start(self.settings.host, self.settings.port)
            # Until the runtime is up, ingress answers 503 (not ready), never 404.
            await self.runtime.start(await asyncio.to_thread(self._load), self.url)
        except BaseException:
            await self._http.close(grace_seconds=0.0)
            raise
        self._watcher = asyncio.create_task(self._watch(fingerprint), name="manifest watcher")

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def _watch(self, fingerprint: Fingerprint) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval_seconds)
            current = await asyncio.to_thread(manifest_fingerprint, self.settings.manifests)
            if current == fingerprint:
                continue
            fingerprint = current
            try:
                config = await asyncio.to_thread(self._load)
            except ManifestError as error:
                log_json(
                    logging.ERROR,
                    "manifests not reloaded; keeping the last good ones",
                    error=str(error),
                )
                continue
            await self.runtime.apply(config)
            log_json(logging.INFO, "manifests reloaded", triggers=len(config.triggers))

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.runtime.stop()
        if self._http is not None:
            await self._http.close(HTTP_SHUTDOWN_GRACE_SECONDS)


async def serve(settings: BrokerSettings, on_started: Callable[[BrokerServer], None]) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    server = BrokerServer(settings)
    await server.start()
    gc.freeze()  # what start-up built lives as long as the process: later collections skip it
    on_started(server)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await server.stop()


def run(settings: BrokerSettings, on_started: Callable[[BrokerServer], None]) -> None:
    """Run the broker as this process's main job (`shoal broker`)."""
    # Each event allocates dozens of short-lived containers and the log's memory tail keeps tens
    # of thousands of records alive: with the default thresholds the collector ran every few
    # events and kept re-scanning the tail (about a tenth of the CPU at load). Reference
    # counting frees almost everything; cycles are still collected, just less often.
    gc.set_threshold(*GC_THRESHOLDS)
    uvloop.run(serve(settings, on_started))
