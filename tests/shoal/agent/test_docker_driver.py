"""The docker driver against the real engine (scripts/docker-engine.sh): the driver contract
suite of test_driver_contract.py, then what only containers have (host network and $PORT,
limits, labels, adoption by a new driver, the stop grace period)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from docker.models.containers import Container

from shoal.agent import docker_spec
from shoal.agent.docker_driver import DockerDriver
from shoal.agent.driver import CommandResult, Driver
from shoal.agent.errors import DriverError
from shoal.platform.ports import free_port
from tests.docker_engine import Engine, require_engine
from tests.shoal.agent import test_driver_contract as contract
from tests.shoal.agent.support import replica, wait_until
from tests.shoal.agent.test_driver_contract import DriverKit, next_exit

# The contract suite and its `driver` fixture, collected here again with this module's `kit`;
# its kind test looks the kit up in its own table, so test_the_kind_is_docker stands in for it.
globals().update(
    {
        name: getattr(contract, name)
        for name in dir(contract)
        if (name.startswith("test_") and name != "test_the_kind_names_the_driver")
        or name == "driver"
    }
)

GRACE_SECONDS = 2.0
# Runs until stopped, and ends at once on SIGTERM (as PID 1 it needs its own handler).
RUN_UNTIL_STOPPED = ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait $!"]
# Answers GET with its environment as JSON, on the port its first argument names.
ENV_SERVER = """
import http.server, json, os, sys
class Environment(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(dict(os.environ)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Environment).serve_forever()
"""


@pytest.fixture(scope="module")
def engine() -> Engine:
    return require_engine()


@pytest.fixture
def node() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def loop_time() -> float:
    return asyncio.get_running_loop().time()


@pytest.fixture
def kit(engine: Engine, node: str) -> DriverKit:
    async def make(_tmp_path: Path) -> Driver:
        return await DockerDriver.open(node, base_url=engine.host, grace_seconds=GRACE_SECONDS)

    return DriverKit(
        make=make,
        running=lambda name: engine.on_node(replica(name, command=RUN_UNTIL_STOPPED), node),
        exiting=lambda name, code: engine.on_node(
            replica(name, command=["sh", "-c", f"sleep 0.05; exit {code}"]), node
        ),
        unstartable=lambda name: engine.on_node(
            replica(name, command=["no-such-program-shoal-test"]), node
        ),
    )


@pytest.fixture(autouse=True)
def leftovers(engine: Engine, node: str) -> Iterator[None]:
    """Whatever a test leaves on the engine for its node is removed after it."""
    yield
    engine.remove_node_containers(node)


async def test_the_kind_is_docker(driver: Driver) -> None:
    assert driver.kind == "docker"


async def test_a_replica_serves_on_its_assigned_port_on_the_host_network(
    driver: Driver, engine: Engine, node: str
) -> None:
    port = free_port()
    spec = replica("web-1", command=["python3", "-c", ENV_SERVER, "$PORT"], ports=[("http", port)])
    await driver.start(engine.on_node(spec, node))

    async def environment() -> dict[str, str] | None:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/") as response,
            ):
                answer: dict[str, str] = await response.json()
                return answer
        except aiohttp.ClientError:
            return None

    for _ in range(200):
        answer = await environment()
        if answer is not None:
            assert (answer["PORT"], answer["PORT_HTTP"]) == (str(port), str(port))
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"nothing answered on 127.0.0.1:{port}")


async def test_limits_and_labels_come_from_the_spec(
    driver: Driver, engine: Engine, node: str
) -> None:
    spec = engine.on_node(replica("web-1", command=RUN_UNTIL_STOPPED, cpu=250, memory=96), node)
    await driver.start(spec)

    [attrs] = engine.node_containers(node)
    assert attrs["Name"] == f"/shoal.{node}.web-1"
    assert attrs["HostConfig"]["NanoCpus"] == 250_000_000
    assert attrs["HostConfig"]["Memory"] == 96 * 2**20
    assert attrs["HostConfig"]["NetworkMode"] == "host"
    labels = attrs["Config"]["Labels"]
    assert (labels["dev.shoal.node"], labels["dev.shoal.deployment"]) == (node, "web")
    assert docker_spec.spec_from_labels(labels) == spec


async def test_a_new_driver_adopts_running_and_exited_replicas_without_duplicates(
    kit: DriverKit, engine: Engine, node: str, tmp_path: Path
) -> None:
    first = await kit.make(tmp_path)
    running = await first.start(kit.running("web-1"))
    await first.start(kit.exiting("web-2", 7))
    await first.close()  # the agent goes away; its containers do not
    await wait_until(
        lambda: any(not c["State"]["Running"] for c in engine.node_containers(node)),
        what="web-2 exiting while no agent watches",
    )

    second = await kit.make(tmp_path)
    try:
        listed = {status.spec.name: status for status in await second.list()}
        assert listed["web-1"] == running
        assert listed["web-2"].exit_code == 7
        assert await second.start(kit.running("web-1")) == running
        assert len(engine.node_containers(node)) == 2
        await second.stop("web-1")
        await second.stop("web-2")
        assert engine.node_containers(node) == []
    finally:
        await second.close()


async def test_an_adopted_replica_s_exit_is_reported(
    kit: DriverKit, engine: Engine, node: str, tmp_path: Path
) -> None:
    slow_exit = replica("web-1", command=["sh", "-c", "sleep 1; exit 5"])
    first = await kit.make(tmp_path)
    await first.start(engine.on_node(slow_exit, node))
    await first.close()
    second = await kit.make(tmp_path)
    try:
        exit_ = await next_exit(second)
        assert (exit_.name, exit_.exit_code) == ("web-1", 5)
    finally:
        await second.close()


async def test_a_replica_that_ignores_sigterm_is_killed_after_the_grace_period(
    driver: Driver, engine: Engine, node: str
) -> None:
    stubborn = replica("web-1", command=["sh", "-c", "trap '' TERM; sleep 300 & wait $!"])
    await driver.start(engine.on_node(stubborn, node))
    await driver.stop("web-1")
    assert engine.node_containers(node) == []
    assert await driver.list() == []


async def test_an_image_that_cannot_be_pulled_is_a_driver_error(
    driver: Driver, engine: Engine, node: str
) -> None:
    spec = dataclasses.replace(engine.on_node(replica("web-1"), node), image="127.0.0.1:9/x:1")
    with pytest.raises(DriverError, match=r"127\.0\.0\.1:9/x:1"):
        await driver.start(spec)
    assert await driver.list() == []


async def test_no_engine_is_a_driver_error(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match=r"no Docker engine answers .*; set DOCKER_HOST \(for"):
        await DockerDriver.open("n1", base_url=f"unix://{tmp_path}/none.sock")


async def test_the_memory_limit_is_enforced_and_an_oom_kill_says_so(
    driver: Driver, engine: Engine, node: str
) -> None:
    hungry = replica("web-1", command=["python3", "-c", "x = bytearray(200 * 2**20)"], memory=32)
    await driver.start(engine.on_node(hungry, node))

    exit_ = await next_exit(driver)

    assert (exit_.name, exit_.exit_code) == ("web-1", 137)
    assert exit_.reason == "killed for exceeding its memory limit (exit code 137)"


async def test_an_exit_s_reason_quotes_the_end_of_the_output(
    driver: Driver, engine: Engine, node: str
) -> None:
    failing = replica("web-1", command=["sh", "-c", "echo starting; echo boom; exit 2"])
    await driver.start(engine.on_node(failing, node))

    exit_ = await next_exit(driver)

    assert exit_.reason == "exited with code 2; last output: starting | boom"


async def test_output_is_the_container_s_last_lines(
    driver: Driver, engine: Engine, node: str
) -> None:
    printing = replica(
        "web-1", command=["sh", "-c", "echo one; echo two; echo three; exec sleep 300"]
    )
    await driver.start(engine.on_node(printing, node))

    for _ in range(200):
        if await driver.output("web-1", 3) == "one\ntwo\nthree":
            break
        await asyncio.sleep(0.05)
    assert await driver.output("web-1", 3) == "one\ntwo\nthree"
    assert await driver.output("web-1", 2) == "two\nthree"
    assert await driver.output("web-1", 0) == ""


async def test_following_a_container_gives_what_it_prints_until_it_exits(
    driver: Driver, engine: Engine, node: str
) -> None:
    ticking = replica("web-1", command=["sh", "-c", "for n in 1 2 3; do echo $n; sleep 0.3; done"])
    await driver.start(engine.on_node(ticking, node))
    pieces = driver.follow_output("web-1", 100)
    assert pieces is not None

    async def everything() -> str:
        return "".join([piece async for piece in pieces])

    assert await asyncio.wait_for(everything(), 30) == "1\n2\n3\n"


async def test_a_host_port_held_outside_shoal_fails_the_start(
    driver: Driver, engine: Engine, node: str
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = int(other.getsockname()[1])
        spec = replica("web-1", command=RUN_UNTIL_STOPPED, ports=[("http", port)])
        with pytest.raises(DriverError, match=rf"host port {port} of web-1 is taken"):
            await driver.start(engine.on_node(spec, node))
    assert await driver.list() == []
    assert engine.node_containers(node) == []  # nothing was created


async def test_a_death_that_arrives_before_its_container_is_adopted_is_not_lost(
    engine: Engine, node: str
) -> None:
    """While open() adopts, the die event of a container it listed as running can come first."""
    client = engine.client()
    driver = DockerDriver(client, node)
    driver._unclaimed = {}
    spec = engine.on_node(replica("web-1"), node)
    listed = Container(
        attrs={
            "Id": "c0ffee",
            "Config": {"Labels": docker_spec.create_arguments(spec)["labels"]},
            "State": {"Running": True, "Pid": 1, "StartedAt": "2026-11-28T19:55:10Z"},
        },
        client=client,
    )

    driver._died("c0ffee", 9, "killed by signal 9 (SIGKILL)")
    await driver._adopt(listed)

    exit_ = await next_exit(driver)
    assert (exit_.name, exit_.exit_code) == ("web-1", 9)
    [status] = await driver.list()
    assert status.exit_code == 9
    client.close()


# run_in: exec probes' commands, run inside the container


async def test_run_in_gives_a_command_s_exit_code_and_output(
    driver: Driver, engine: Engine, node: str
) -> None:
    port = free_port()
    spec = replica("web-1", command=RUN_UNTIL_STOPPED, ports=[("http", port)])
    await driver.start(engine.on_node(spec, node))

    assert await driver.run_in("web-1", ["sh", "-c", "exit 3"], 10) == CommandResult(3)
    # Inside the container, with its environment; stdout and stderr both, in either order
    # (the engine does not keep the order of its two streams).
    printing = ["sh", "-c", "echo $PORT_HTTP; echo err >&2"]
    printed = await driver.run_in("web-1", printing, 10)
    assert printed.exit_code == 0
    assert sorted(printed.output.splitlines()) == sorted([str(port), "err"])
    # Its variables substituted first, as in the replica's own command.
    assert await driver.run_in("web-1", ["echo", "$PORT"], 10) == CommandResult(0, f"{port}\n")


async def test_a_command_still_running_at_the_timeout_holds_off_the_next_one(
    driver: Driver, engine: Engine, node: str
) -> None:
    await driver.start(engine.on_node(replica("web-1", command=RUN_UNTIL_STOPPED), node))

    began = loop_time()
    assert await driver.run_in("web-1", ["sleep", "2"], 0.5) == CommandResult(None)
    assert loop_time() - began < 1.5
    still = CommandResult(None, "the previous check's command is still running")
    assert await asyncio.wait_for(driver.run_in("web-1", ["true"], 10), 0.5) == still

    # Once that command has ended, the next one runs again.
    for _ in range(100):
        result = await driver.run_in("web-1", ["true"], 10)
        if result != still:
            break
        await asyncio.sleep(0.05)
    assert result == CommandResult(0)


async def test_run_in_a_replica_that_does_not_run_is_a_driver_error(
    driver: Driver, engine: Engine, node: str
) -> None:
    with pytest.raises(DriverError, match=r"^replica web-9 does not run here$"):
        await driver.run_in("web-9", ["true"], 10)
    exiting = replica("web-1", command=["sh", "-c", "sleep 0.05; exit 2"])
    await driver.start(engine.on_node(exiting, node))
    await next_exit(driver)
    with pytest.raises(DriverError, match=r"^replica web-1 does not run here$"):
        await driver.run_in("web-1", ["true"], 10)
