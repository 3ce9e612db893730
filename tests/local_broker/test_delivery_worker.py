"""The delivery process's worker, driven over a real channel as the broker's process drives it:
a commit notice that overtakes the `apply` call is not lost."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from local_broker.channel import Channel
from local_broker.deliverychild import DeliveryWorker
from local_broker.log import EventLog
from local_broker.manifests import read_documents
from local_broker.settings import BrokerSettings
from local_broker.testing import RecordingSink
from tests.local_broker.conftest import ManifestFolder, make_event, trigger

BROKER = ("default", "default")


async def test_a_commit_notice_that_overtakes_apply_is_not_lost(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    settings = BrokerSettings(data_dir=tmp_path / "data")
    log = EventLog.open(settings.log_path(BROKER))
    written: list[tuple[str, tuple[Any, ...]]] = []

    async def broker_side(method: str, args: tuple[Any, ...]) -> object:
        written.append((method, args))  # cursor flushes: what the broker's process would store
        return None

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    worker = DeliveryWorker()
    broker_channel = await Channel.over(ours, broker_side, lambda _method, _args: None)
    worker.channel = await Channel.over(theirs, worker.serve, worker.hear)
    try:
        async with RecordingSink() as sink:
            manifest_folder.write("t.yaml", trigger("all", sink.url))
            documents = read_documents([manifest_folder.root])
            await log.append([make_event(id=f"e{n}") for n in range(1, 4)], now=0.0)
            cursors = {"default/all": 3}  # delivered up to 3 before
            await log.append([make_event(id=f"e{n}") for n in range(4, 6)], now=0.0)
            await broker_channel.call("start", settings, "http://127.0.0.1:1")
            # The notice of the commit of 4 and 5 is heard before the apply call that opens
            # the log, which still says head 3.
            broker_channel.tell("heads", {BROKER: 5})
            await broker_channel.call("apply", documents, {BROKER: (3, cursors)})
            received = await sink.wait_for(2)
            await broker_channel.call("stop", 1.0)
    finally:
        await broker_channel.close()
        await worker.channel.close()
        await log.close()
    assert [request.event.id for request in received] == ["e4", "e5"]
    flushed = [args for method, args in written if method == "cursors"]
    assert flushed[-1] == (BROKER, {"default/all": 5}, set())
