"""The broker runs, and says which code it runs: its compiled hot path or the Python sources."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import yaml

from local_broker import native
from local_broker.testing import RecordingSink, post_event
from shoal.platform.ports import free_port
from tests.e2e.conftest import broker_args, shoal_process, wait_http_ok
from tests.local_broker.conftest import make_event, trigger

EVENTS = 50


@pytest.mark.parametrize("hot_path", ["compiled", "sources"])
async def test_the_broker_delivers_and_names_its_hot_path(
    hot_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hot_path == "sources":
        monkeypatch.setenv(native.DISABLE_VARIABLE, "0")
    elif not native.status().active and os.environ.get("CI") != "true":
        pytest.skip(f"no compiled build here: {native.status().reason}")
    port = free_port()
    manifests = tmp_path / "manifests.yaml"
    log = tmp_path / "broker.log"
    ingress = f"http://127.0.0.1:{port}/default/default"
    events = [make_event() for _ in range(EVENTS)]
    async with RecordingSink() as sink:
        manifests.write_text(yaml.safe_dump(trigger("all", sink.url)))
        with shoal_process(broker_args(manifests, port, tmp_path / "data"), log) as broker:
            await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/readyz", 15.0, broker)
            for event in events:
                assert (await post_event(ingress, event))[0] == 202
            received = await sink.wait_for(EVENTS, timeout=20.0)
    assert sorted(r.event.id for r in received) == sorted(event.id for event in events)
    announced = [line for line in log.read_text().splitlines() if line.startswith("hot path: ")]
    expected = (
        "compiled with mypyc" if hot_path == "compiled" else "Python sources (SHOAL_NATIVE=0)"
    )
    assert len(announced) == 1
    assert expected in announced[0]
