"""The docker driver's death watch against the real engine: exits arrive with code and reason,
also across a broken event stream (it connects again and asks for what it missed)."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator

import pytest

from shoal.agent import docker_spec
from shoal.agent.docker_events import DeathWatch
from tests.docker_engine import Engine, require_engine
from tests.shoal.agent.support import replica

Death = tuple[str, int, str]


@pytest.fixture
def engine() -> Engine:
    return require_engine()


@pytest.fixture
def node(engine: Engine) -> Iterator[str]:
    name = f"e{uuid.uuid4().hex[:10]}"
    yield name
    engine.remove_node_containers(name)


@pytest.fixture
def deaths(engine: Engine, node: str) -> Iterator[tuple[DeathWatch, queue.Queue[Death]]]:
    seen: queue.Queue[Death] = queue.Queue()
    watch = DeathWatch(engine.host, node, lambda *death: seen.put(death))
    watch.begin()
    yield watch, seen
    watch.end()


def run_exiting(engine: Engine, node: str, name: str, code: int) -> str:
    """A container of the node that exits with `code` at once; its id."""
    spec = engine.on_node(replica(name, command=["sh", "-c", f"exit {code}"]), node)
    client = engine.client()
    try:
        container = client.containers.run(**docker_spec.create_arguments(spec))
        return str(container.id)
    finally:
        client.close()


@pytest.mark.parametrize("stream_breaks", [False, True], ids=["steady", "broken-stream"])
def test_an_exit_arrives_with_its_code_and_reason(
    engine: Engine,
    node: str,
    deaths: tuple[DeathWatch, queue.Queue[Death]],
    stream_breaks: bool,
) -> None:
    watch, seen = deaths
    if stream_breaks:
        watch._stream.close()  # as when the engine's connection drops: it must connect again
    container_id = run_exiting(engine, node, "web-1", 3)

    assert seen.get(timeout=30) == (container_id, 3, "exited with code 3")


def test_other_nodes_exits_are_not_seen(
    engine: Engine, node: str, deaths: tuple[DeathWatch, queue.Queue[Death]]
) -> None:
    _watch, seen = deaths
    other = f"{node}x"
    try:
        run_exiting(engine, other, "web-1", 5)
        mine = run_exiting(engine, node, "web-1", 6)
        assert seen.get(timeout=30) == (mine, 6, "exited with code 6")
    finally:
        engine.remove_node_containers(other)
