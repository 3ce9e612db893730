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
    # Typed extensions, sent structured so that they arrive as JSON true and 7: compiled code
    # must carry them as they are (mypyc can turn a bool it holds as an int into 1).
    events = [make_event(flag=index % 2 == 0, count=index) for index in range(EVENTS)]
    async with RecordingSink() as sink:
        manifests.write_text(yaml.safe_dump(trigger("all", sink.url)))
        with shoal_process(broker_args(manifests, port, tmp_path / "data"), log) as broker:
            await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/readyz", 15.0, broker)
            for event in events:
                assert (await post_event(ingress, event, structured=True))[0] == 202
            received = await sink.wait_for(EVENTS, timeout=20.0)
    headers = {r.headers["ce-id"]: r.headers for r in received}
    assert sorted(headers) == sorted(event.id for event in events)
    for index, event in enumerate(events):
        assert headers[event.id]["ce-flag"] == ("true" if index % 2 == 0 else "false")
        assert headers[event.id]["ce-count"] == str(index)
    announced = [line for line in log.read_text().splitlines() if line.startswith("hot path: ")]
    expected = (
        "compiled with mypyc" if hot_path == "compiled" else "Python sources (SHOAL_NATIVE=0)"
    )
    assert len(announced) == 1
    assert expected in announced[0]
