"""Many Triggers of which few match: only those are woken, and the others still move on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from local_broker.testing import RecordingSink, post_event, running_broker
from tests.local_broker.conftest import ManifestFolder, make_event, trigger

OTHERS = 30


async def test_only_matching_triggers_deliver_and_the_rest_advance(
    tmp_path: Path, manifest_folder: ManifestFolder
) -> None:
    async with RecordingSink() as sink:
        manifest_folder.write(
            "t.yaml",
            *(trigger(f"m{i}", sink.url, attributes={"type": f"other{i}"}) for i in range(OTHERS)),
            trigger("hit", f"{sink.url}/hit", attributes={"type": "dev.shoal.hit"}),
            trigger("api", f"{sink.url}/api", filters=[{"exact": {"type": "dev.shoal.hit"}}]),
            trigger(
                "any",
                f"{sink.url}/any",
                filters=[{"any": [{"exact": {"type": "dev.shoal.hit"}}, {"prefix": {"id": "x"}}]}],
            ),
        )
        async with running_broker(tmp_path / "data", [manifest_folder.root]) as server:
            for _ in range(5):
                await post_event(server.ingress_url(), make_event("dev.shoal.hit"))
            await post_event(server.ingress_url(), make_event("dev.shoal.miss"))
            received = await sink.wait_for(15)
            log = server.runtime.logs["default", "default"]
            deadline = time.monotonic() + 10.0  # housekeeping wakes the others twice a second
            while time.monotonic() < deadline:
                if all(log.cursor(f"default/m{i}") == log.head() for i in range(OTHERS)):
                    break
                await asyncio.sleep(0.05)
            cursors = {log.cursor(f"default/m{i}") for i in range(OTHERS)}
            head = log.head()
    assert head == 6
    assert cursors == {6}
    # 5 events to each of hit, api and any; nothing to the 30 others.
    assert sorted(r.event.type for r in received) == ["dev.shoal.hit"] * 15
