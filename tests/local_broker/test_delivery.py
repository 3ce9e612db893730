"""Delivery through the real broker: retries, dead letters, replies, isolation between Triggers."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import aiohttp

from local_broker.testing import (
    Received,
    RecordingSink,
    Reply,
    post_event,
    reply_with_event,
    running_broker,
)
from tests.local_broker.conftest import FAST_DELIVERY, ManifestFolder, make_event, trigger


def failing_then_ok(failures: int, status: int = 503) -> object:
    calls = {"n": 0}

    def respond(_received: Received) -> Reply:
        calls["n"] += 1
        return Reply(status) if calls["n"] <= failures else Reply(202)

    return respond


async def test_retries_retryable_statuses_then_succeeds(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink(failing_then_ok(2)) as sink, RecordingSink() as dls:  # type: ignore[arg-type]
        delivery = {**FAST_DELIVERY, "deadLetterSink": {"uri": dls.url}}
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=delivery))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event())
            await sink.wait_for(3)
            await asyncio.sleep(0.2)
            metrics = await _metrics(server.url)
    assert len(sink.received) == 3
    assert dls.received == []
    assert 'broker_delivery_retries_total{trigger="default/t"} 2.0' in metrics
    assert 'broker_deliveries_succeeded_total{trigger="default/t"} 1.0' in metrics


async def test_non_retryable_status_goes_to_dead_letter_sink_with_error_extensions(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    body = b"x" * 2000
    async with RecordingSink(lambda _r: Reply(400, body=body)) as sink, RecordingSink() as dls:
        delivery = {**FAST_DELIVERY, "deadLetterSink": {"uri": dls.url}}
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=delivery))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            event = make_event(data=b'{"keep":"me"}')
            await post_event(server.ingress_url(), event)
            (dead,) = await dls.wait_for(1)
    assert len(sink.received) == 1  # 400 is not retried
    dead_event = dead.event
    assert dead_event.id == event.id
    assert dead_event.data == b'{"keep":"me"}'
    assert dead_event.get("knativeerrordest") == sink.url
    assert dead_event.get("knativeerrorcode") == "400"
    error_data = dead_event.get("knativeerrordata") or ""
    assert len(error_data) <= 1024
    assert base64.b64decode(error_data) == body[:768]


async def test_without_sink_exhausted_events_land_in_the_dead_letter_store(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink(lambda _r: Reply(500)) as sink:
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=FAST_DELIVERY))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            event = make_event()
            await post_event(server.ingress_url(), event)
            await sink.wait_for(3)
            letters = await _poll_dead_letters(server.url)
    assert len(sink.received) == 3  # first attempt + 2 retries
    (letter,) = letters
    assert letter["trigger"] == "default/t"
    assert letter["status"] == 500
    assert letter["event"]["id"] == event.id


async def test_reply_is_ingested_and_meets_every_trigger(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    reply = make_event("dev.shoal.reply")

    def respond(received: Received) -> Reply:
        if received.event.type == "dev.shoal.request":
            return reply_with_event(reply)
        return Reply(202)

    async with RecordingSink(respond) as producer, RecordingSink() as consumer:
        manifest_folder.write(
            "t.yaml",
            trigger("producer", producer.url),  # sees everything, its own reply included
            trigger("consumer", consumer.url, attributes={"type": "dev.shoal.reply"}),
        )
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event("dev.shoal.request"))
            (got,) = await consumer.wait_for(1)
            await producer.wait_for(2)
    assert got.event.id == reply.id
    assert got.event.get("knativebrokerttl") == "254"
    assert sorted(r.event.type for r in producer.received) == [
        "dev.shoal.reply",
        "dev.shoal.request",
    ]


async def test_2xx_with_garbage_body_is_a_failure(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    garbage = Reply(200, {"Content-Type": "application/json"}, b'{"not": "an event"}')
    async with RecordingSink(lambda _r: garbage) as sink:
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=FAST_DELIVERY))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event())
            await sink.wait_for(3)
            letters = await _poll_dead_letters(server.url)
    assert "reply" in letters[0]["reason"]


async def test_slow_subscriber_does_not_stall_other_triggers(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink(lambda _r: Reply(202, delay=3.0)) as slow, RecordingSink() as fast:
        manifest_folder.write(
            "t.yaml",
            trigger("slow", slow.url, delivery={"retry": 0, "timeout": "PT10S"}),
            trigger("fast", fast.url),
        )
        async with running_broker(
            tmp_path / "data", [manifest_folder.root], in_flight_per_trigger=2
        ) as server:
            for _ in range(20):
                await post_event(server.ingress_url(), make_event())
            received = await fast.wait_for(20, timeout=2.5)
    assert len(received) == 20
    assert len(slow.received) <= 2  # its window holds the rest back


async def test_two_triggers_to_one_url_make_two_deliveries(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("a", sink.url), trigger("b", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            event = make_event()
            await post_event(server.ingress_url(), event)
            received = await sink.wait_for(2)
    assert [r.event.id for r in received] == [event.id, event.id]


async def test_filters_select_what_each_trigger_gets(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as exact, RecordingSink() as prefixed:
        manifest_folder.write(
            "t.yaml",
            trigger("exact", exact.url, attributes={"type": "dev.shoal.a", "node": ""}),
            trigger("prefix", prefixed.url, filters=[{"prefix": {"type": "dev.shoal."}}]),
        )
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event("dev.shoal.a"))  # no node
            await post_event(server.ingress_url(), make_event("dev.shoal.a", node="n1"))
            await post_event(server.ingress_url(), make_event("dev.other"))
            await prefixed.wait_for(2)
            await exact.wait_for(1)
            await asyncio.sleep(0.2)
    assert [r.event.get("node") for r in exact.received] == ["n1"]
    assert len(prefixed.received) == 2


async def _metrics(base_url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/metrics") as response:
        return await response.text()


async def _poll_dead_letters(base_url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(f"{base_url}/-/dead-letters") as response:
                letters: list[dict[str, Any]] = json.loads(await response.read())["dead_letters"]
            if letters:
                return letters
            await asyncio.sleep(0.05)
    raise AssertionError("no dead letter appeared")


async def test_structured_json_data_without_a_type_is_delivered_as_application_json(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    """json-format 3.1.2: the implied application/json is set when the event goes on in binary
    mode; without it, the subscriber would get bytes of no declared type."""
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("t", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            event = {
                "specversion": "1.0",
                "id": "s1",
                "source": "/me",
                "type": "t",
                "data": {"a": 1},
            }
            async with aiohttp.ClientSession() as session:
                headers = {"Content-Type": "application/cloudevents+json"}
                async with session.post(
                    server.ingress_url(), data=json.dumps(event), headers=headers
                ) as response:
                    assert response.status == 202
            (received,) = await sink.wait_for(1)
    assert received.headers["Content-Type"] == "application/json"
    assert json.loads(received.body) == {"a": 1}


async def test_a_reply_larger_than_the_ingress_takes_is_a_failed_attempt(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    """A reply is ingested like an event, so --max-event-bytes holds for it as at the ingress."""
    huge = make_event(data=b'"' + b"x" * 20_000 + b'"')
    async with (
        RecordingSink(lambda _received: reply_with_event(huge, structured=True)) as sink,
        RecordingSink() as dls,
    ):
        delivery = {**FAST_DELIVERY, "retry": 1, "deadLetterSink": {"uri": dls.url}}
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=delivery))
        async with running_broker(
            tmp_path / "data", [manifest_folder.root], max_event_bytes=10_000
        ) as server:
            event = make_event()
            assert (await post_event(server.ingress_url(), event))[0] == 202
            (dead,) = await dls.wait_for(1)
            await asyncio.sleep(0.2)
    assert dead.event.id == event.id
    assert dead.event.get("knativeerrorcode") == "200"
    assert [r.event.id for r in sink.received] == [event.id, event.id]  # never the reply


async def test_a_huge_error_body_keeps_its_status_and_a_prefix_for_the_dead_letter(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    body = b"e" * 70_000_000  # over what the client ever kept of a body (64 MiB)
    async with (
        RecordingSink(lambda _received: Reply(503, {}, body)) as sink,
        RecordingSink() as dls,
    ):
        delivery = {**FAST_DELIVERY, "retry": 0, "deadLetterSink": {"uri": dls.url}}
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=delivery))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            assert (await post_event(server.ingress_url(), make_event()))[0] == 202
            (dead,) = await dls.wait_for(1)
    assert dead.event.get("knativeerrorcode") == "503"
    assert base64.b64decode(str(dead.event.get("knativeerrordata"))) == b"e" * 768
