"""An event the broker accepted never stalls its Trigger, even when delivering it fails on a bug.

The Trigger's reader, a delivery's first answer and its retry task each settle the event (it
reaches the subscriber, or a dead letter) and free its slot in the window, so the events after
it keep flowing and the cursor moves on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local_broker import native
from local_broker.deliver import OutgoingRequests, send_with_retries
from local_broker.event import CloudEvent
from local_broker.http.client_request import WireHeaders
from local_broker.testing import Received, RecordingSink, Reply, post_event, running_broker
from tests.local_broker.conftest import (
    FAST_DELIVERY,
    UNCARRIABLE_EVENTS,
    UNCARRIABLE_IDS,
    ManifestFolder,
    make_event,
    trigger,
)

POISON = "poison"
# Compiled code binds module globals when it is built, so a monkeypatched one goes unseen:
# test_native.py runs these tests in a process on the Python sources instead.
injects_a_bug = pytest.mark.skipif(
    native.status().active, reason="patches a module global; test_native.py runs it on sources"
)


class _EncodingFails(OutgoingRequests):
    """Fails to encode the event with id POISON, as a bug in the encoder would."""

    def get(self, event: CloudEvent, *, structured: bool) -> tuple[WireHeaders, bytes]:
        if event.id == POISON:
            raise ValueError("cannot encode this one")
        return super().get(event, structured=structured)


async def _dead_letters(base_url: str, count: int) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(f"{base_url}/-/dead-letters") as response:
                letters: list[dict[str, Any]] = json.loads(await response.read())["dead_letters"]
            if len(letters) >= count:
                return letters
            await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} dead letters appeared")


async def _post_three(url: str) -> list[CloudEvent]:
    events = [make_event(), make_event(), make_event()]
    events[1] = CloudEvent({**events[1].attributes, "id": POISON}, None)
    for event in events:
        status, _ = await post_event(url, event)
        assert status == 202
    return events


@injects_a_bug
async def test_an_event_that_cannot_be_encoded_is_dead_lettered_and_the_trigger_reads_on(
    tmp_path: Path, manifest_folder: ManifestFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("local_broker.dispatchers.OutgoingRequests", _EncodingFails)
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=FAST_DELIVERY))
        async with running_broker(
            tmp_path / "data", [manifest_folder.root], delivery="inline"
        ) as server:
            events = await _post_three(server.ingress_url())
            received = await sink.wait_for(2)
            (letter,) = await _dead_letters(server.url, 1)
            for _ in range(3):  # later events keep flowing
                status, _ = await post_event(server.ingress_url(), make_event())
                assert status == 202
            await sink.wait_for(5)
    assert [r.event.id for r in received] == [events[0].id, events[2].id]
    assert letter["event"]["id"] == POISON
    assert "cannot encode this one" in letter["reason"]


@injects_a_bug
async def test_a_retry_task_that_fails_on_a_bug_dead_letters_its_event(
    tmp_path: Path, manifest_folder: ManifestFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def send(*args: Any, **kwargs: Any) -> Any:
        headers: Mapping[str, str] = args[2]
        if headers.get("ce-id") == POISON:
            raise RuntimeError("a bug in the retry loop")
        return await send_with_retries(*args, **kwargs)

    monkeypatch.setattr("local_broker.dispatch.send_with_retries", send)

    def respond(received: Received) -> Reply:  # the first attempt fails: the task takes over
        return Reply(503) if received.event.id == POISON else Reply(202)

    async with RecordingSink(respond) as sink:
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=FAST_DELIVERY))
        async with running_broker(
            tmp_path / "data", [manifest_folder.root], delivery="inline"
        ) as server:
            events = await _post_three(server.ingress_url())
            (letter,) = await _dead_letters(server.url, 1)
            received = await sink.wait_for(3)
    assert {r.event.id for r in received} == {event.id for event in events}
    assert letter["event"]["id"] == POISON
    assert "a bug in the retry loop" in letter["reason"]


@pytest.mark.parametrize("body", UNCARRIABLE_EVENTS, ids=UNCARRIABLE_IDS)
async def test_a_reply_that_cannot_be_read_fails_the_attempt_and_frees_its_slot(
    tmp_path: Path, manifest_folder: ManifestFolder, body: bytes
) -> None:
    def respond(received: Received) -> Reply:
        if received.event.id == POISON:
            return Reply(200, {"Content-Type": "application/cloudevents+json"}, body)
        return Reply(202)

    async with RecordingSink(respond) as sink:
        delivery = {**FAST_DELIVERY, "retry": 1}
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=delivery))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            events = await _post_three(server.ingress_url())
            (letter,) = await _dead_letters(server.url, 1)
            received = await sink.wait_for(4)  # the poison twice (one retry), the others once
    assert letter["event"]["id"] == POISON
    assert "bad reply" in letter["reason"]
    assert sorted(r.event.id for r in received) == sorted(
        [events[0].id, POISON, POISON, events[2].id]
    )
