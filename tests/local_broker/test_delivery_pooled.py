"""Deliveries whose first attempt goes out on a pooled connection (no task until it fails).

A Trigger's first delivery opens the connection; each test posts a warm-up event first, so the
event under test starts on `HttpClient.send_on_idle` and, when that attempt does not settle it,
carries on in the retrying task with the same rules as any other delivery.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local_broker.testing import (
    Received,
    RecordingSink,
    Reply,
    post_event,
    reply_with_event,
    running_broker,
)
from tests.local_broker.conftest import (
    FAST_DELIVERY,
    FAST_RETRIES,
    ManifestFolder,
    make_event,
    trigger,
)

WARM_UP = "dev.shoal.warmup"
UNDER_TEST = "dev.shoal.test"


class Script:
    """Answers 202 to the warm-up event and `answers` in turn to the event under test."""

    def __init__(self, *answers: Reply) -> None:
        self._answers = list(answers)
        self.attempts = 0

    def __call__(self, received: Received) -> Reply:
        if received.event.type == WARM_UP:
            return Reply(202)
        self.attempts += 1
        return self._answers.pop(0) if self._answers else Reply(202)


async def deliver_after_warm_up(
    tmp_path: Path, manifest_folder: ManifestFolder, script: Script, expected_requests: int
) -> tuple[list[Received], list[Received]]:
    """Requests the subscriber got, and what reached the dead-letter sink."""
    async with RecordingSink(script) as sink, RecordingSink() as dls:
        delivery = {**FAST_DELIVERY, "deadLetterSink": {"uri": dls.url}}
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=delivery))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event(WARM_UP))
            await sink.wait_for(1)
            await post_event(server.ingress_url(), make_event(UNDER_TEST))
            received = await sink.wait_for(expected_requests)
            dead = await dls.wait_for(1) if script.attempts > FAST_RETRIES else []
    return received, dead


@pytest.mark.parametrize("status", [500, 503, 429, 404])
async def test_a_failed_pooled_attempt_is_retried_with_backoff(
    tmp_path: Path, manifest_folder: ManifestFolder, status: int
) -> None:
    script = Script(Reply(status))
    received, dead = await deliver_after_warm_up(tmp_path, manifest_folder, script, 3)
    assert [r.event.type for r in received] == [WARM_UP, UNDER_TEST, UNDER_TEST]
    assert script.attempts == 2
    assert dead == []


async def test_a_pooled_attempt_that_keeps_failing_is_dead_lettered(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    script = Script(Reply(500), Reply(500), Reply(500))
    _received, dead = await deliver_after_warm_up(tmp_path, manifest_folder, script, 4)
    assert script.attempts == 3  # the first attempt and two retries
    (letter,) = dead
    assert letter.event.type == UNDER_TEST
    assert letter.event.get("knativeerrorcode") == "500"


async def test_a_pooled_attempt_answered_with_garbage_is_a_failure(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    garbage = Reply(200, {"Content-Type": "application/json"}, b'{"not": "an event"}')
    script = Script(garbage, garbage, garbage)
    _received, dead = await deliver_after_warm_up(tmp_path, manifest_folder, script, 4)
    assert dead[0].event.get("knativeerrorcode") == "200"


async def test_a_pooled_attempt_that_times_out_is_retried(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    script = Script(Reply(202, delay=1.0))
    async with RecordingSink(script) as sink:
        delivery = {**FAST_DELIVERY, "timeout": "PT0.2S"}
        manifest_folder.write("t.yaml", trigger("t", sink.url, delivery=delivery))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event(WARM_UP))
            await sink.wait_for(1)
            await post_event(server.ingress_url(), make_event(UNDER_TEST))
            await sink.wait_for(3)
    assert script.attempts == 2


async def test_a_reply_to_a_pooled_attempt_is_ingested(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    reply = make_event("dev.shoal.reply")
    script = Script(reply_with_event(reply))
    async with RecordingSink(script) as sink, RecordingSink() as consumer:
        manifest_folder.write(
            "t.yaml",
            trigger("t", sink.url, attributes={"type": UNDER_TEST}),
            trigger("w", sink.url, attributes={"type": WARM_UP}),
            trigger("consumer", consumer.url, attributes={"type": "dev.shoal.reply"}),
        )
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event(WARM_UP))
            await sink.wait_for(1)
            await post_event(server.ingress_url(), make_event(UNDER_TEST))
            (got,) = await consumer.wait_for(1)
    assert got.event.id == reply.id
