"""Loading, reloading and periodic sources of the broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from local_broker.manifests import ManifestError
from local_broker.testing import RecordingSink, post_event, running_broker
from tests.local_broker.conftest import ManifestFolder, make_event, trigger


async def test_bad_trigger_refuses_start_naming_file_and_trigger(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    bad = trigger("broken", "http://127.0.0.1:1/", filters=[{"exact": {"Type": "x"}}])
    manifest_folder.write("bad.yaml", bad)
    with pytest.raises(ManifestError) as caught:
        async with running_broker(tmp_path / "data", [manifest_folder.root]):
            pass
    message = str(caught.value)
    assert "bad.yaml" in message
    assert "broken" in message


async def test_trigger_files_are_watched_and_a_bad_reload_keeps_the_last_good_config(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as first, RecordingSink() as second:
        manifest_folder.write("a.yaml", trigger("a", first.url))
        async with running_broker(
            tmp_path / "data", [manifest_folder.root], reload_interval_seconds=0.1
        ) as server:
            added = manifest_folder.write("b.yaml", trigger("b", second.url))
            await _until(lambda: len(server.runtime.config.triggers) == 2)  # type: ignore[union-attr]
            await post_event(server.ingress_url(), make_event())
            await second.wait_for(1)

            added.unlink()
            await _until(lambda: len(server.runtime.config.triggers) == 1)  # type: ignore[union-attr]

            manifest_folder.write("c.yaml", trigger("c", "not a url", filters=[{"bogus": {}}]))
            await asyncio.sleep(0.5)
            assert len(server.runtime.config.triggers) == 1  # type: ignore[union-attr]
            await post_event(server.ingress_url(), make_event())
            await first.wait_for(2)
    assert len(second.received) == 1


async def test_ping_source_with_local_period_emits_ping_events(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write(
            "ping.yaml",
            {
                "apiVersion": "sources.knative.dev/v1",
                "kind": "PingSource",
                "metadata": {"name": "tick", "annotations": {"shoal.dev/period-seconds": "0.2"}},
                "spec": {
                    "schedule": "* * * * *",
                    "contentType": "application/json",
                    "data": '{"tick": true}',
                    "sink": {
                        "ref": {
                            "apiVersion": "eventing.knative.dev/v1",
                            "kind": "Broker",
                            "name": "default",
                        }
                    },
                },
            },
            trigger("ticks", sink.url, attributes={"type": "dev.knative.sources.ping"}),
        )
        async with running_broker(tmp_path / "data", [manifest_folder.root]):
            received = await sink.wait_for(2, timeout=5.0)
    event = received[0].event
    assert event.source == "/apis/v1/namespaces/default/pingsources/tick"
    assert event.data == b'{"tick": true}'


async def _until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
