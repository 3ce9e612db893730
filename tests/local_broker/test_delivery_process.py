"""Deliveries in a process of their own (`--delivery process`, the default) and on the
ingress's event loop (`--delivery inline`) behave alike; the delivery process survives its own
death and leaves its cursors in the broker's log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local_broker.event import CloudEvent
from local_broker.server import BrokerServer
from local_broker.testing import (
    Received,
    RecordingSink,
    Reply,
    post_event,
    reply_with_event,
    running_broker,
)
from tests.e2e.test_up import alive
from tests.local_broker.conftest import (
    FAST_DELIVERY,
    ManifestFolder,
    broker,
    make_event,
    trigger,
)

MODES = ["process", "inline"]


def _answer(received: Received) -> Reply:
    event = received.event
    if event.type == "ping":
        pong = CloudEvent(
            {"specversion": "1.0", "id": f"re-{event.id}", "source": "/s", "type": "pong"}
        )
        return reply_with_event(pong)
    if event.type == "doomed":
        return Reply(500, body=b"no")  # retried, then dead-lettered
    return Reply()


async def _get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return json.loads(await response.read())


async def _metrics(base_url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/metrics") as response:
        return await response.text()


async def _until(check: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("delivery", MODES)
async def test_deliveries_replies_dead_letters_and_metrics_alike_in_either_mode(
    tmp_path: Path, manifest_folder: ManifestFolder, delivery: str
) -> None:
    async with RecordingSink(_answer) as sink:
        manifest_folder.write(
            "t.yaml",
            broker(delivery=FAST_DELIVERY),
            trigger("pings", f"{sink.url}pings", attributes={"type": "ping"}),
            trigger("pongs", f"{sink.url}pongs", attributes={"type": "pong"}),
            trigger("doomed", f"{sink.url}doomed", attributes={"type": "doomed"}),
        )
        async with running_broker(
            tmp_path / "data", [manifest_folder.root], delivery=delivery
        ) as server:
            pid = server.runtime.delivery_pid
            assert (pid is not None and pid != os.getpid()) == (delivery == "process")
            status, _ = await post_event(server.ingress_url(), make_event("ping", id="p1"))
            assert status == 202
            await post_event(server.ingress_url(), make_event("doomed", id="d1"))
            received = await sink.wait_for(5)  # ping, pong, and doomed's three attempts

            async def dead_lettered() -> bool:
                letters = (await _get_json(f"{server.url}/-/dead-letters"))["dead_letters"]
                return bool(letters)

            await _until(dead_lettered)
            letters = (await _get_json(f"{server.url}/-/dead-letters"))["dead_letters"]
            metrics = await _metrics(server.url)
    by_path: dict[str, list[str]] = {}
    for request in received:
        by_path.setdefault(request.path, []).append(request.event.id)
    assert by_path["/pings"] == ["p1"]
    assert by_path["/pongs"] == ["re-p1"]
    assert by_path["/doomed"] == ["d1"] * 3
    assert [letter["event"]["id"] for letter in letters] == ["d1"]
    assert 'broker_deliveries_succeeded_total{trigger="default/pings"} 1.0' in metrics
    assert 'broker_deliveries_succeeded_total{trigger="default/pongs"} 1.0' in metrics
    assert 'broker_replies_ingested_total{trigger="default/pings"} 1.0' in metrics
    assert 'broker_delivery_retries_total{trigger="default/doomed"} 2.0' in metrics
    assert 'broker_deliveries_dead_lettered_total{trigger="default/doomed"} 1.0' in metrics
    assert 'broker_events_accepted_total{broker="default/default"} 3.0' in metrics


async def _flushed(server: BrokerServer, key: str) -> bool:
    log = server.runtime.logs["default", "default"]
    return log.cursor(key) == log.head()


async def test_a_killed_delivery_process_is_started_again_and_delivers_on(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("all", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event(id="before"))
            await sink.wait_for(1)
            await _until(lambda: _flushed(server, "default/all"))
            first = server.runtime.delivery_pid
            assert first is not None
            os.kill(first, signal.SIGKILL)

            async def restarted() -> bool:
                pid = server.runtime.delivery_pid
                return pid is not None and pid != first

            await _until(restarted)
            status, _ = await post_event(server.ingress_url(), make_event(id="after"))
            assert status == 202
            received = await sink.wait_for(2, timeout=15.0)
    assert [request.event.id for request in received] == ["before", "after"]
    assert not alive(first)


async def test_cursors_come_back_to_the_broker_s_log_so_a_restart_delivers_nothing_twice(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("all", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            for index in range(3):
                await post_event(server.ingress_url(), make_event(id=f"e{index}"))
            await sink.wait_for(3)
        # Stopped: the delivery process flushed its cursor through the broker's process.
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            log = server.runtime.logs["default", "default"]
            assert log.cursor("default/all") == log.head() == 3
            await post_event(server.ingress_url(), make_event(id="e3"))
            received = await sink.wait_for(4)
            await asyncio.sleep(0.3)  # time for a wrong re-delivery to show
    assert [request.event.id for request in sink.received] == ["e0", "e1", "e2", "e3"]
    assert len(received) == 4


async def test_a_trigger_added_while_running_reaches_the_delivery_process(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write("a.yaml", trigger("first", f"{sink.url}first"))
        async with running_broker(
            tmp_path / "data", [manifest_folder.root], reload_interval_seconds=0.1
        ) as server:
            manifest_folder.write("b.yaml", trigger("second", f"{sink.url}second"))

            async def reloaded() -> bool:
                config = server.runtime.config
                return config is not None and len(config.triggers) == 2

            await _until(reloaded)
            await post_event(server.ingress_url(), make_event(id="x"))
            received = await sink.wait_for(2)
    assert sorted(request.path for request in received) == ["/first", "/second"]
