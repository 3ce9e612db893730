"""The broker's ingress over real HTTP: modes, validation, status codes, stamping, dedup."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from local_broker.testing import RecordingSink, post_event, running_broker
from tests.local_broker.conftest import (
    UNCARRIABLE_EVENTS,
    UNCARRIABLE_IDS,
    ManifestFolder,
    broker,
    make_event,
    trigger,
)


async def _post(
    url: str, headers: dict[str, str], body: bytes
) -> tuple[int, bytes, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status, await response.read(), dict(response.headers)


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
async def test_accepted_event_reaches_subscriber_in_binary_mode(
    tmp_path: Path, manifest_folder: ManifestFolder, structured: bool
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("all", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            event = make_event(data=b'{"a":1}', subject="web")
            status, _ = await post_event(server.ingress_url(), event, structured=structured)
            assert status == 202
            (received,) = await sink.wait_for(1)
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["ce-id"] == event.id
    assert headers["ce-subject"] == "web"
    assert headers["prefer"] == "reply"
    assert headers["content-type"] == "application/json"
    assert headers["ce-knativebrokerttl"] == "255"
    assert headers["ce-knativearrivaltime"].endswith("Z")
    assert json.loads(received.body) == {"a": 1}
    allowed = ("ce-", "knative-")
    extra = {
        name
        for name in headers
        if not name.startswith(allowed)
        and name not in {"content-type", "prefer", "traceparent", "tracestate"}
        # aiohttp's client adds these transport headers itself
        and name not in {"host", "content-length", "accept", "accept-encoding", "user-agent"}
    }
    assert extra == set()


async def test_structured_delivery_when_format_json(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write(
            "t.yaml", trigger("all", sink.url, delivery={"format": "json", "retry": 0})
        )
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event(data=b"[1,2]"))
            (received,) = await sink.wait_for(1)
    assert received.headers["Content-Type"].startswith("application/cloudevents+json")
    assert json.loads(received.body)["data"] == [1, 2]


async def test_batch_routes_each_event_and_empty_batch_is_fine(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    batch = [
        {"specversion": "1.0", "id": f"b{i}", "source": "/batch", "type": "dev.shoal.test"}
        for i in range(3)
    ]
    headers = {"Content-Type": "application/cloudevents-batch+json"}
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("all", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            status, _, _ = await _post(server.ingress_url(), headers, json.dumps(batch).encode())
            assert status == 202
            status, _, _ = await _post(server.ingress_url(), headers, b"[]")
            assert status == 202
            received = await sink.wait_for(3)
    assert sorted(r.event.id for r in received) == ["b0", "b1", "b2"]


@pytest.mark.parametrize(
    ("headers", "attribute"),
    [
        ({"ce-specversion": "1.0", "ce-source": "/s", "ce-type": "t"}, "id"),
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t"}, "source"),
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}, "type"),
        ({"ce-specversion": "9.9", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}, "specversion"),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "/s",
                "ce-type": "t",
                "ce-time": "yesterday",
            },
            "time",
        ),
    ],
)
async def test_invalid_event_is_400_naming_the_attribute(
    tmp_path: Path, headers: dict[str, str], attribute: str
) -> None:
    async with running_broker(tmp_path / "data") as server:
        status, body, _ = await _post(server.ingress_url(), headers, b"")
        # the broker keeps serving after bad input
        ok, _ = await post_event(server.ingress_url(), make_event())
    assert status == 400
    assert json.loads(body)["attribute"] == attribute
    assert ok == 202


async def test_status_codes_for_paths_methods_and_size(tmp_path: Path) -> None:
    async with running_broker(tmp_path / "data", max_event_bytes=1024) as server:
        unknown, body = await post_event(f"{server.url}/default/nope", make_event())
        async with aiohttp.ClientSession() as session:
            async with session.get(server.ingress_url()) as response:
                get_status, get_allow = response.status, response.headers.get("Allow")
            async with session.options(server.ingress_url()) as response:
                options_status, options_allow = response.status, response.headers.get("Allow")
        too_large, _ = await post_event(server.ingress_url(), make_event(data=b"x" * 4096))
    assert unknown == 404
    assert "default/nope" in json.loads(body)["error"]
    assert (get_status, get_allow) == (405, "POST, OPTIONS")
    assert (options_status, options_allow) == (200, "POST, OPTIONS")
    assert too_large == 413


async def test_every_broker_in_manifests_gets_an_ingress(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    manifest_folder.write("b.yaml", broker("orders"))
    async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
        status, _ = await post_event(server.ingress_url("default", "orders"), make_event())
        missing, _ = await post_event(server.ingress_url("default", "default"), make_event())
    assert status == 202
    assert missing == 404


@pytest.mark.parametrize(("incoming", "outgoing"), [(None, "255"), ("10", "9"), ("junk", "255")])
async def test_ttl_is_set_or_decremented(
    tmp_path: Path, manifest_folder: ManifestFolder, incoming: str | None, outgoing: str
) -> None:
    extra = {} if incoming is None else {"knativebrokerttl": incoming}
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("all", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(server.ingress_url(), make_event(**extra))
            (received,) = await sink.wait_for(1)
    assert received.event.get("knativebrokerttl") == outgoing


async def test_exhausted_ttl_is_refused(tmp_path: Path) -> None:
    async with running_broker(tmp_path / "data") as server:
        status, body = await post_event(server.ingress_url(), make_event(knativebrokerttl="1"))
    assert status == 400
    assert json.loads(body)["attribute"] == "knativebrokerttl"


async def test_duplicate_source_and_id_is_acknowledged_but_delivered_once(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("all", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            event = make_event()
            first, _ = await post_event(server.ingress_url(), event)
            second, _ = await post_event(server.ingress_url(), event)
            marker = make_event()
            await post_event(server.ingress_url(), marker)
            await sink.wait_for(2)
            # the duplicate would have been logged before the marker; give it time to show up
            await asyncio.sleep(0.3)
    assert (first, second) == (202, 202)
    assert sorted(r.event.id for r in sink.received) == sorted([event.id, marker.id])


@pytest.mark.parametrize("incoming", ["99999999999", "-2147483649", "1_000", "\u0663"])
async def test_a_ttl_that_is_no_cloudevents_integer_counts_as_absent(
    tmp_path: Path, manifest_folder: ManifestFolder, incoming: str
) -> None:
    # Core spec "Type System": an Integer is 32-bit, in ASCII digits; anything else gets 255.
    async with RecordingSink() as sink:
        manifest_folder.write("t.yaml", trigger("all", sink.url))
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            status, _ = await post_event(
                server.ingress_url(), make_event(knativebrokerttl=incoming)
            )
            (received,) = await sink.wait_for(1)
    assert status == 202
    assert received.event.get("knativebrokerttl") == "255"


@pytest.mark.parametrize(
    "content_type",
    [b"text/plain; charset=\xff", "text/plain; name=\u20ac".encode()],
    ids=["not-utf-8", "not-ascii"],
)
async def test_a_content_type_that_is_no_media_type_is_refused(
    tmp_path: Path, content_type: bytes
) -> None:
    async with running_broker(tmp_path / "data") as server:
        host, port = server.ingress_url().split("//")[1].split("/")[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /default/default HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            b"ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\n"
            b"Content-Type: " + content_type + b"\r\n\r\nhi"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
        writer.close()
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["attribute"] == "datacontenttype"


@pytest.mark.parametrize("body", UNCARRIABLE_EVENTS, ids=UNCARRIABLE_IDS)
async def test_structured_data_the_broker_cannot_carry_is_a_400(
    tmp_path: Path, body: bytes
) -> None:
    async with running_broker(tmp_path / "data") as server:
        headers = {"Content-Type": "application/cloudevents+json"}
        status, answer, _ = await _post(server.ingress_url(), headers, body)
    assert status == 400
    assert json.loads(answer)["attribute"] in (None, "data")
