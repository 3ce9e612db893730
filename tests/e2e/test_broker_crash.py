"""SIGKILL the broker under load: every event that got a 202 is still delivered after restart."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from local_broker.binding import encode_binary
from local_broker.testing import RecordingSink
from shoal.platform.ports import free_port
from tests.e2e.conftest import broker_args, shoal_process, wait_http_ok
from tests.e2e.test_up import alive, descendants
from tests.local_broker.conftest import make_event, trigger

MAX_EVENTS = 4000
LOAD_SECONDS = 3.0
CONCURRENCY = 32
TRIGGERS = ("first", "second")


async def _load(url: str, acked: list[str], stop_at: float) -> None:
    """Post events from CONCURRENCY workers until the deadline, the count or the broker dies."""
    counter = iter(range(MAX_EVENTS))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in counter:
            if time.monotonic() > stop_at:
                return
            event = make_event()
            headers, body = encode_binary(event)
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    if response.status == 202:
                        acked.append(event.id)
            except (aiohttp.ClientError, ConnectionError):
                return

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))


@pytest.mark.parametrize(
    ("log_writer", "delivery"),
    [("process", "process"), ("thread", "process"), ("process", "inline")],
)
async def test_sigkill_under_load_loses_no_acknowledged_event(
    tmp_path: Path, log_writer: str, delivery: str
) -> None:
    port = free_port()
    manifests = tmp_path / "manifests.yaml"
    args = [
        *broker_args(manifests, port, tmp_path / "data"),
        *("--log-writer", log_writer, "--delivery", delivery),
    ]
    ingress = f"http://127.0.0.1:{port}/default/default"
    acked: list[str] = []
    async with RecordingSink() as sink:
        # Two Triggers: after the restart both read the backlog from SQLite, sharing the reads.
        both = [trigger(name, f"{sink.url}{name}") for name in TRIGGERS]
        manifests.write_text(yaml.safe_dump_all(both))
        with shoal_process(args, tmp_path / "broker.log") as broker:
            await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/readyz", 15.0, broker)
            load = asyncio.create_task(_load(ingress, acked, time.monotonic() + LOAD_SECONDS))
            await asyncio.sleep(1.0)
            broker.send_signal(signal.SIGKILL)
            await load
            broker.wait()
        assert len(acked) > 50, "the load did not get going before the kill"
        with shoal_process(args, tmp_path / "broker.log") as broker:
            await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/readyz", 15.0, broker)
            deadline = time.monotonic() + 60.0
            missing = {(f"/{name}", event_id) for name in TRIGGERS for event_id in acked}
            seen = 0
            while missing and time.monotonic() < deadline:
                fresh = sink.received[seen:]
                seen += len(fresh)
                missing -= {(received.path, received.event.id) for received in fresh}
                await asyncio.sleep(0.2)
    assert not missing, (
        f"{len(missing)} of {len(acked) * len(TRIGGERS)} deliveries of acknowledged events never"
        f" came, e.g. {sorted(missing)[:3]}"
    )


async def test_sigkill_right_after_start_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """A new Trigger's starting position is durable before the ingress takes events: killed
    long before its first periodic flush of positions, the broker still delivers them."""
    port = free_port()
    manifests = tmp_path / "manifests.yaml"
    args = broker_args(manifests, port, tmp_path / "data")
    ingress = f"http://127.0.0.1:{port}/default/default"
    async with RecordingSink() as sink:
        manifests.write_text(yaml.safe_dump(trigger("all", f"http://127.0.0.1:{free_port()}/")))
        events = [make_event() for _ in range(5)]
        with shoal_process(args, tmp_path / "broker.log") as broker:
            await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/readyz", 15.0, broker)
            async with aiohttp.ClientSession() as session:
                for event in events:
                    headers, body = encode_binary(event)
                    async with session.post(ingress, data=body, headers=headers) as response:
                        assert response.status == 202
            broker.send_signal(signal.SIGKILL)  # within the first half second of positions
            broker.wait()
        manifests.write_text(yaml.safe_dump(trigger("all", sink.url)))  # the subscriber is up
        with shoal_process(args, tmp_path / "broker.log") as broker:
            await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/readyz", 15.0, broker)
            received = await sink.wait_for(5, timeout=20.0)
    assert {r.event.id for r in received} == {event.id for event in events}


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


async def test_the_writer_and_delivery_processes_end_with_the_broker_that_was_killed(
    tmp_path: Path,
) -> None:
    """SIGKILL leaves the log's writer process and the delivery process orphans: each sees its
    pipe or socket close and exits, so the writer holds the log no longer than its last commit
    and nothing delivers for a broker that is gone; a restarted broker opens the log."""
    port = free_port()
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(yaml.safe_dump(trigger("all", f"http://127.0.0.1:{free_port()}/")))
    args = [
        *broker_args(manifests, port, tmp_path / "data"),
        *("--log-writer", "process", "--delivery", "process"),
    ]
    with shoal_process(args, tmp_path / "broker.log") as broker:
        await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/readyz", 15.0, broker)
        children = descendants(broker.pid)
        broker.send_signal(signal.SIGKILL)
        broker.wait()
    assert len(children) == 2, "a writer process and a delivery process"
    for child in children:
        assert await asyncio.to_thread(_gone_within, child, 10.0), "a child outlived the broker"
    with shoal_process(args, tmp_path / "broker.log") as broker:
        await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/readyz", 15.0, broker)
