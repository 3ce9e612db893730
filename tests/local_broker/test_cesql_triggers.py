"""CESQL filters inside the running broker: load-time errors and evaluation errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from local_broker.manifests import ManifestError
from local_broker.testing import RecordingSink, post_event, running_broker
from tests.local_broker.conftest import ManifestFolder, make_event, trigger


async def test_parse_error_fails_the_load_with_trigger_name_and_position(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    manifest_folder.write(
        "t.yaml", trigger("by-sql", "http://127.0.0.1:1/", filters=[{"cesql": "type = 'a' AND"}])
    )
    with pytest.raises(ManifestError) as caught:
        async with running_broker(tmp_path / "data", [manifest_folder.root]):
            pass
    message = str(caught.value)
    assert "by-sql" in message
    assert "column 15" in message


async def test_evaluation_error_fails_only_that_filter_and_is_counted(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    sql = "type LIKE 'dev.shoal.%' AND EXISTS node AND node = 'n1'"
    async with RecordingSink() as by_sql, RecordingSink() as failing, RecordingSink() as plain:
        manifest_folder.write(
            "t.yaml",
            trigger("by-sql", by_sql.url, filters=[{"cesql": sql}]),
            # INT('abc') is a cast error for every event: the filter never matches
            trigger("failing", failing.url, filters=[{"cesql": "INT(subject) > 1"}]),
            trigger("plain", plain.url),
        )
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            await post_event(
                server.ingress_url(), make_event("dev.shoal.x", node="n1", subject="abc")
            )
            await post_event(
                server.ingress_url(), make_event("dev.shoal.x", node="n2", subject="abc")
            )
            await plain.wait_for(2)
            (matched,) = await by_sql.wait_for(1)
            await asyncio.sleep(0.2)
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{server.url}/metrics") as response,
            ):
                metrics = await response.text()
    assert matched.event.get("node") == "n1"
    assert len(by_sql.received) == 1
    assert failing.received == []
    assert 'broker_filter_errors_total{trigger="default/failing"} 2.0' in metrics
