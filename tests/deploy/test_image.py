"""The Dockerfile built for real (tests/deploy/image.py) and its promises checked on the image:
a function answers a CloudEvent, it runs as a user that is not root, the final stage has no
compiler, and `shoal agent` runs from the same image."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest
from docker.models.containers import Container

from local_broker.testing import RecordingSink, post_event
from shoal import events
from shoal.platform.ports import free_port
from tests.docker_engine import Engine, require_engine
from tests.shoal.agent.support import broker_event, replica, scheduled_data

from .conftest import ROOT
from .image import TEST_LABEL, build_image, post_until_answered, running

# The first build fetches every dependency's wheel; later ones come from the engine's cache.
pytestmark = pytest.mark.timeout(900)

UID = "10001"
# What compiles, and Python's C headers: none of them may be in the image functions run from.
BUILD_TOOLS = ("gcc", "cc", "c++", "g++", "clang", "make", "ld", "as", "cargo", "rustc")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return require_engine()


@pytest.fixture(scope="module")
def image(engine: Engine) -> Iterator[str]:
    yield build_image(engine, ROOT)
    client = engine.client()
    for leftover in client.containers.list(all=True, filters={"label": [TEST_LABEL]}):
        leftover.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def deployments(engine: Engine, image: str) -> Iterator[tuple[Container, int]]:
    """The deployments function, as its Knative Service runs it (manifests/base), state in
    SQLite inside the container, no K_SINK (so its one emitted event is its reply)."""
    port = free_port()
    env = {
        "PORT": str(port),
        "FUNCTION_TARGET": "deployments",
        "FUNCTION_SOURCE": "functions/deployments.py",
        "SHOAL_STATE_URL": "sqlite:////app/.shoal/state.db",
    }
    with running(engine, image, None, env) as container:
        yield container, port


def exec_output(container: Container, script: str) -> str:
    result = container.exec_run(["sh", "-c", script])
    output = result.output
    assert isinstance(output, bytes)  # not streamed
    return output.decode().strip()


def test_a_function_answers_a_cloudevent(deployments: tuple[Container, int]) -> None:
    container, port = deployments
    headers = {
        "ce-specversion": "1.0",
        "ce-id": uuid.uuid4().hex,
        "ce-source": "/shoal/tests/image",
        "ce-type": events.DEPLOYMENT_APPLIED,
        "content-type": "application/json",
    }
    body = json.dumps({"manifest": "replicas: 3"}).encode()

    answer = post_until_answered(f"http://127.0.0.1:{port}/", headers, body, container)

    assert answer.status == 200, answer.body
    assert answer.headers["ce-type"] == events.DEPLOYMENT_REJECTED
    data = answer.json()
    assert isinstance(data, dict)
    assert "reason" in data


def test_the_function_runs_as_the_image_s_own_user_not_root(
    deployments: tuple[Container, int],
) -> None:
    container, _port = deployments

    uids = exec_output(container, "awk '/^Uid:/ {print $2}' /proc/1/status; id -u")

    assert uids.split() == [UID, UID]
    assert container.attrs["Config"]["User"] == f"{UID}:{UID}"


def test_the_final_stage_has_no_compiler_or_c_headers(
    deployments: tuple[Container, int],
) -> None:
    container, _port = deployments
    probe = " ".join(BUILD_TOOLS)

    script = f"for t in {probe}; do command -v $t; done; ls -d /usr/include/python3* 2>/dev/null"

    found = exec_output(container, f"{script}; true")

    assert found == ""


def seen_types(broker: RecordingSink) -> list[str]:
    return [received.event.type for received in broker.received]


async def test_the_agent_runs_from_the_same_image_and_starts_containers(
    engine: Engine, image: str
) -> None:
    """`shoal agent --driver docker` in a container, driving the engine through its socket
    (mounted, with the socket's group, as docs/deploy-knative.md says)."""
    if not engine.host.startswith("unix://"):
        pytest.skip(f"the engine's socket is needed in the container, not {engine.host}")
    socket_path = engine.host.removeprefix("unix://")
    node = f"img{uuid.uuid4().hex[:8]}"
    port = free_port()
    spec = engine.on_node(replica("web-1", command=["sleep", "300"]), node)
    async with RecordingSink() as broker:
        command = ["shoal", "agent", "--name", node, "--broker", broker.url]
        command += ["--listen", f"127.0.0.1:{port}", "--driver", "docker"]
        volumes = {socket_path: {"bind": "/var/run/docker.sock", "mode": "rw"}}
        group = os.stat(socket_path).st_gid
        options = {"volumes": volumes, "group_add": [group]}
        try:
            with running(engine, image, command, {}, **options) as container:
                try:
                    await wait_for_type(broker, events.NODE_JOINED)
                except TimeoutError:
                    pytest.fail(container.logs().decode(errors="replace")[-4000:])
                status, _body = await post_event(
                    f"http://127.0.0.1:{port}/",
                    broker_event(events.REPLICA_SCHEDULED, scheduled_data(spec), node),
                )
                assert status == 202
                await wait_for_type(broker, events.REPLICA_STARTED)
                [replica_container] = engine.node_containers(node)
                assert replica_container["Config"]["Cmd"] == ["sleep", "300"]
        finally:
            engine.remove_node_containers(node)


async def wait_for_type(broker: RecordingSink, type_: str) -> None:
    """Until the broker stand-in received an event of `type_`; TimeoutError after a minute
    without one more event."""
    while type_ not in seen_types(broker):
        await broker.wait_for(len(broker.received) + 1, timeout=60.0)
