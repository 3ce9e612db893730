"""`shoal up` removes the nodes of its earlier agents that this run does not start."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from local_broker.exclusive import ExclusiveLock
from shoal import events
from shoal.agent.store import AssignmentStore
from shoal.platform.retired import AGENTS_FOLDER, STRUCTURED, remove_retired_nodes


class Ingress:
    """A broker ingress stand-in on 127.0.0.1 that keeps what it is posted (or, with `status`
    set to an error, refuses it)."""

    def __init__(self) -> None:
        self.posted: list[dict[str, object]] = []
        self.url = ""
        self.status = 202

    async def take(self, request: web.Request) -> web.Response:
        assert request.content_type == STRUCTURED
        if self.status == 202:
            self.posted.append(json.loads(await request.read()))
        return web.Response(status=self.status)


@pytest.fixture
async def ingress() -> AsyncIterator[Ingress]:
    taken = Ingress()
    app = web.Application()
    app.router.add_post("/default/default", taken.take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    taken.url = f"http://127.0.0.1:{port}/default/default"
    yield taken
    await runner.cleanup()


def agent_folder(data_dir: Path, agent: str, nodes: list[str]) -> Path:
    folder = data_dir / AGENTS_FOLDER / agent
    store = AssignmentStore(folder / "assignments.sqlite3")
    store.record_nodes(nodes)
    store.close()
    return folder


def recorded(folder: Path) -> frozenset[str]:
    store = AssignmentStore(folder / "assignments.sqlite3")
    try:
        return store.served_nodes()
    finally:
        store.close()


async def test_every_other_agent_s_nodes_are_removed_once(tmp_path: Path, ingress: Ingress) -> None:
    sim = agent_folder(tmp_path, "sim", ["sim-1", "sim-0"])
    local = agent_folder(tmp_path, "local", ["local"])
    said: list[str] = []

    removed = await remove_retired_nodes(tmp_path, "local", ingress.url, said.append)

    assert removed == ["sim-0", "sim-1"]
    assert [(e["type"], e["subject"], e["data"]) for e in ingress.posted] == [
        (events.NODE_REMOVED, node, {"node": node, "reason": "shoal up does not run agent sim now"})
        for node in ("sim-0", "sim-1")
    ]
    assert said == ["removed  node(s) sim-0, sim-1: agent sim does not run now"]
    assert recorded(sim) == frozenset()  # removed once
    assert recorded(local) == {"local"}  # the running agent says itself what it dropped

    assert await remove_retired_nodes(tmp_path, "local", ingress.url, said.append) == []
    assert len(ingress.posted) == 2
    assert len(said) == 1


async def test_without_an_agent_every_agent_s_nodes_are_removed(
    tmp_path: Path, ingress: Ingress
) -> None:
    agent_folder(tmp_path, "sim", ["sim"])
    agent_folder(tmp_path, "docker", ["docker"])

    removed = await remove_retired_nodes(tmp_path, None, ingress.url, lambda _line: None)

    assert removed == ["docker", "sim"]


async def test_a_folder_another_agent_holds_is_left_alone(tmp_path: Path, ingress: Ingress) -> None:
    folder = agent_folder(tmp_path, "sim", ["sim"])
    lock = ExclusiveLock.acquire(folder / "agent.lock")  # an agent started by hand on it
    try:
        assert await remove_retired_nodes(tmp_path, None, ingress.url, lambda _line: None) == []
    finally:
        lock.release()
    assert ingress.posted == []
    assert recorded(folder) == {"sim"}


async def test_no_agents_folder_is_nothing_to_do(tmp_path: Path, ingress: Ingress) -> None:
    assert await remove_retired_nodes(tmp_path, "sim", ingress.url, lambda _line: None) == []
    assert ingress.posted == []


async def test_a_broker_that_refuses_leaves_the_record_for_the_next_run(
    tmp_path: Path, ingress: Ingress
) -> None:
    sim = agent_folder(tmp_path, "sim", ["sim-0"])
    ingress.status = 503
    said: list[str] = []

    assert await remove_retired_nodes(tmp_path, None, ingress.url, said.append) == []

    (warning,) = said
    assert warning.startswith("warning: could not remove the nodes of agent sim")
    assert "503" in warning
    assert recorded(sim) == {"sim-0"}  # tried again next time
    ingress.status = 202
    assert await remove_retired_nodes(tmp_path, None, ingress.url, said.append) == ["sim-0"]
