"""Which handler answers what on the broker's one port, and the answers of the edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from local_broker.deliver import OutgoingRequests, outgoing_request
from local_broker.routes import broker_of_path
from local_broker.testing import post_event, running_broker
from tests.local_broker.conftest import make_event


@pytest.mark.parametrize(
    ("path", "broker"),
    [
        ("/default/default", ("default", "default")),
        ("/ns-1/orders", ("ns-1", "orders")),
        ("/-/events", ("-", "events")),  # routed to admin first; here only the shape
        ("/a%2Db/c", ("a-b", "c")),
        ("/default", None),
        ("/default/", None),
        ("//default", None),
        ("/a/b/c", None),
        ("/", None),
        ("", None),
        ("default/default", None),
    ],
)
def test_broker_of_path(path: str, broker: tuple[str, str] | None) -> None:
    assert broker_of_path(path) == broker


async def test_admin_paths_unknown_paths_and_methods(tmp_path: Path) -> None:
    async with running_broker(tmp_path / "data") as server, aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/healthz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})
        async with session.head(f"{server.url}/readyz") as response:
            assert response.status == 200
            assert await response.read() == b""
        async with session.post(f"{server.url}/metrics") as response:
            assert (response.status, response.headers["Allow"]) == (405, "GET, HEAD")
        async with session.get(f"{server.url}/no/such/path") as response:
            assert response.status == 404
            assert "/<namespace>/<broker>" in (await response.json())["error"]
        async with session.get(f"{server.url}/-/events?after=x") as response:
            assert response.status == 400
            assert "after" in (await response.json())["error"]
        async with session.get(f"{server.url}/metrics") as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            assert "broker_events_accepted" in await response.text()


async def test_the_event_log_reads_the_first_or_the_newest(tmp_path: Path) -> None:
    async with running_broker(tmp_path / "data") as server, aiohttp.ClientSession() as session:
        for n in range(5):
            status, _ = await post_event(server.ingress_url(), make_event(id=f"e-{n}"))
            assert status == 202

        async def listed(query: str) -> tuple[list[str], int]:
            async with session.get(f"{server.url}/-/events?{query}") as response:
                assert response.status == 200
                body = await response.json()
            return [entry["event"]["id"] for entry in body["events"]], body["scanned"]

        assert await listed("limit=2") == (["e-0", "e-1"], 2)
        assert await listed("last=2") == (["e-3", "e-4"], 5)  # a follower goes on from 5
        assert await listed("after=3&last=10") == (["e-3", "e-4"], 5)
        async with session.get(f"{server.url}/-/events?limit=2&last=2") as response:
            assert response.status == 400
            assert "not both" in (await response.json())["error"]


async def test_a_refused_large_body_leaves_the_broker_serving(tmp_path: Path) -> None:
    async with running_broker(tmp_path / "data", max_event_bytes=1000) as server:
        too_large, body = await post_event(server.ingress_url(), make_event(data=b"x" * 200_000))
        accepted, _ = await post_event(server.ingress_url(), make_event(data=b"x" * 100))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{server.url}/metrics") as response,
        ):
            metrics = await response.text()
    assert too_large == 413
    assert "1000 bytes" in json.loads(body)["error"]
    assert accepted == 202
    assert (
        'broker_events_rejected_total{broker="default/default",reason="too_large"} 1.0' in metrics
    )


def test_outgoing_requests_are_encoded_once_per_event_and_format() -> None:
    cache = OutgoingRequests(capacity=2)
    first, second, third = make_event(), make_event(), make_event()
    headers, body = cache.get(first, structured=False)
    assert cache.get(first, structured=False)[0] is headers
    expected_headers, expected_body = outgoing_request(first, structured=False)
    assert (dict(headers), body) == (dict(expected_headers), expected_body)
    assert cache.get(first, structured=True)[0] is not headers
    cache.get(second, structured=False)
    cache.get(third, structured=False)  # beyond the capacity: the oldest entries go
    assert cache.get(first, structured=False)[0] is not headers
    assert headers["Prefer"] == "reply"
