"""Readiness probing against real servers on 127.0.0.1: single checks, the Prober's flips, and
the agent reporting `replica.ready` with the sim and the exec driver."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from shoal import events
from shoal.agent.agent import Agent
from shoal.agent.commands import run_command
from shoal.agent.driver import OUTPUT_KEPT, CommandResult, Driver
from shoal.agent.errors import DriverError
from shoal.agent.exec import ExecDriver
from shoal.agent.probing import Prober, check_probe, exec_verdict
from shoal.agent.reports import JsonEvent
from shoal.agent.sim import EXIT_AFTER_ENV, SimDriver
from shoal.agent.spec import ReplicaSpec
from shoal.agent.store import AssignmentStore
from shoal.orchestration.probes import Probe
from shoal.orchestration.spec import Resources
from shoal.platform.ports import free_port
from tests.shoal.agent.support import (
    agent_running,
    replica,
    scheduled_data,
    shoal_event,
    stop_data,
    unstamped,
    wait_until,
)
from tests.shoal.agent.test_exec_driver import group_members

HOST = "127.0.0.1"
STARTED, READY, UNREADY = events.REPLICA_STARTED, events.REPLICA_READY, events.REPLICA_UNREADY
STOPPED = events.REPLICA_STOPPED


def http_probe(
    path: str = "/healthz",
    *,
    initial_delay_seconds: int = 0,
    timeout_seconds: int = 1,
    success_threshold: int = 1,
    failure_threshold: int = 3,
) -> Probe:
    """An httpGet of `path` on port `http`, checked every second."""
    return Probe(
        "http",
        "http",
        path,
        initial_delay_seconds=initial_delay_seconds,
        period_seconds=1,
        timeout_seconds=timeout_seconds,
        success_threshold=success_threshold,
        failure_threshold=failure_threshold,
    )


def probed(port: int, name: str = "web-1", probe: Probe | None = None) -> ReplicaSpec:
    """A replica whose port `http` is `port`, probed by `probe` (an httpGet of /healthz)."""
    spec = replica(name, ports=[("http", port)])
    return dataclasses.replace(spec, readiness=probe or http_probe())


@dataclass
class Health:
    """The test's HTTP server: /healthz answers `status` and counts its requests;
    /status/<code> answers <code>; /moved redirects to /status/404."""

    port: int = 0
    status: int = 200
    requests: int = 0


@pytest.fixture
async def health() -> AsyncIterator[Health]:
    served = Health()

    async def healthz(_request: web.Request) -> web.Response:
        served.requests += 1
        return web.Response(status=served.status)

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]))

    async def moved(_request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/status/404"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/moved", moved)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    served.port = runner.addresses[0][1]
    try:
        yield served
    finally:
        await runner.cleanup()


@asynccontextmanager
async def tcp_server(answer: bool) -> AsyncIterator[int]:
    """A listening port: each connection is closed at once (`answer`), or left open, unanswered,
    until the client goes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not answer:
            await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


# check_probe: httpGet


@pytest.mark.parametrize("path", ["/status/200", "/status/204", "/status/399", "/moved"])
async def test_an_http_probe_passes_on_2xx_and_3xx(health: Health, path: str) -> None:
    assert await check_probe(http_probe(path), HOST, health.port) is None


async def test_an_http_probe_does_not_follow_a_redirect(health: Health) -> None:
    # /moved leads to a 404, which fails: the probe passed on the 302 itself.
    assert await check_probe(http_probe("/status/404"), HOST, health.port) is not None
    assert await check_probe(http_probe("/moved"), HOST, health.port) is None


@pytest.mark.parametrize("code", [400, 404, 500, 503])
async def test_an_http_probe_fails_on_4xx_and_5xx(health: Health, code: int) -> None:
    reason = await check_probe(http_probe(f"/status/{code}"), HOST, health.port)
    assert reason == f"HTTP probe failed with statuscode: {code}"


async def test_an_http_probe_gets_its_path(health: Health) -> None:
    assert await check_probe(http_probe("/healthz"), HOST, health.port) is None
    assert health.requests == 1


async def test_an_http_probe_of_a_closed_port_names_the_url() -> None:
    port = free_port()
    reason = await check_probe(http_probe("/healthz"), HOST, port)
    assert reason is not None
    assert reason.startswith(f"GET http://{HOST}:{port}/healthz: ")


async def test_an_http_probe_of_a_silent_server_fails_after_timeout_seconds() -> None:
    async with tcp_server(answer=False) as port:
        began = time.monotonic()
        reason = await asyncio.wait_for(
            check_probe(http_probe("/healthz", timeout_seconds=1), HOST, port), 5
        )
        elapsed = time.monotonic() - began
    assert reason == f"GET http://{HOST}:{port}/healthz: no answer within 1s (timeoutSeconds)"
    assert 0.9 <= elapsed < 3


# check_probe: tcpSocket


async def test_a_tcp_probe_passes_when_the_port_listens() -> None:
    async with tcp_server(answer=True) as port:
        assert await check_probe(Probe("tcp", "http"), HOST, port) is None


async def test_a_tcp_probe_of_a_closed_port_fails() -> None:
    port = free_port()
    reason = await check_probe(Probe("tcp", "http"), HOST, port)
    assert reason is not None
    assert reason.startswith(f"dial tcp {HOST}:{port}: ")


# Prober

Change = tuple[str, bool, str | None]


@asynccontextmanager
async def recording_prober() -> AsyncIterator[tuple[Prober, list[Change]]]:
    changes: list[Change] = []
    prober = Prober(lambda spec, ready, reason: changes.append((spec.name, ready, reason)))
    try:
        yield prober, changes
    finally:
        await prober.close()


def probe_tasks() -> list[asyncio.Task[object]]:
    names = ("readiness probe ", "liveness probe ", "startup probe ")
    return [task for task in asyncio.all_tasks() if task.get_name().startswith(names)]


async def test_the_prober_reports_each_flip_of_readiness(health: Health) -> None:
    async with recording_prober() as (prober, changes):
        prober.watch(probed(health.port, probe=http_probe(failure_threshold=2)))
        await wait_until(lambda: len(changes) == 1, timeout=3, what="ready")
        assert changes == [("web-1", True, None)]

        health.status = 503
        healthy_requests = health.requests
        await wait_until(lambda: len(changes) == 2, timeout=5, what="unready")
        assert changes[1] == ("web-1", False, "HTTP probe failed with statuscode: 503")
        assert health.requests - healthy_requests == 2  # failureThreshold failures in a row

        health.status = 200
        await wait_until(lambda: len(changes) == 3, timeout=3, what="ready again")
        assert changes[2] == ("web-1", True, None)


async def test_the_prober_waits_for_success_threshold_passes(health: Health) -> None:
    async with recording_prober() as (prober, changes):
        prober.watch(probed(health.port, probe=http_probe(success_threshold=2)))
        await wait_until(lambda: changes != [], timeout=3, what="ready")
        assert changes == [("web-1", True, None)]
        assert health.requests == 2


async def test_the_prober_waits_initial_delay_seconds(health: Health) -> None:
    async with recording_prober() as (prober, changes):
        prober.watch(probed(health.port, probe=http_probe(initial_delay_seconds=1)))
        await asyncio.sleep(0.5)
        assert (health.requests, changes) == (0, [])
        await wait_until(lambda: changes != [], timeout=3, what="ready")
        assert changes == [("web-1", True, None)]


async def test_a_forgotten_replica_is_probed_no_more(health: Health) -> None:
    async with recording_prober() as (prober, changes):
        prober.watch(probed(health.port, probe=http_probe(failure_threshold=1)))
        await wait_until(lambda: changes != [], timeout=3, what="ready")
        prober.forget("web-1")
        assert prober.watched() == frozenset()
        health.status = 503  # would make it unready at the next probe
        requests = health.requests
        await asyncio.sleep(1.5)
        assert health.requests == requests
        assert changes == [("web-1", True, None)]
        assert probe_tasks() == []


async def test_close_cancels_every_probe(health: Health) -> None:
    changes: list[Change] = []
    prober = Prober(lambda spec, ready, reason: changes.append((spec.name, ready, reason)))
    prober.watch(probed(health.port, "web-1"))
    prober.watch(probed(health.port, "web-2"))
    assert prober.watched() == {"web-1", "web-2"}
    await wait_until(lambda: len(changes) == 2, timeout=3, what="both ready")
    await prober.close()
    assert prober.watched() == frozenset()
    assert probe_tasks() == []
    assert sorted(changes) == [("web-1", True, None), ("web-2", True, None)]


async def test_watching_again_starts_from_not_ready(health: Health) -> None:
    async with recording_prober() as (prober, changes):
        spec = probed(health.port)
        prober.watch(spec)
        await wait_until(lambda: len(changes) == 1, timeout=3, what="ready")
        prober.watch(spec)
        await wait_until(lambda: len(changes) == 2, timeout=3, what="ready again")
        assert changes == [("web-1", True, None)] * 2
        assert len(probe_tasks()) == 1


async def test_a_liveness_probe_reports_death_once_and_stops(health: Health) -> None:
    deaths: list[tuple[str, str]] = []
    changes: list[Change] = []
    prober = Prober(
        lambda spec, ready, reason: changes.append((spec.name, ready, reason)),
        on_dead=lambda spec, reason: deaths.append((spec.name, reason)),
    )
    spec = dataclasses.replace(probed(health.port), liveness=http_probe(failure_threshold=2))
    try:
        prober.watch(spec)
        await wait_until(lambda: changes == [("web-1", True, None)], timeout=3, what="ready")
        assert deaths == []  # alive from the start: passing checks are not news

        health.status = 500
        await wait_until(lambda: bool(deaths), timeout=5, what="the liveness verdict")
        await asyncio.sleep(1.5)  # more failing checks: death is told once

        failed = "HTTP probe failed with statuscode: 500"
        assert deaths == [("web-1", f"liveness probe failed: {failed}")]
        assert ("web-1", False, failed) in changes  # the readiness probe goes on by itself
        assert [task.get_name() for task in probe_tasks()] == ["readiness probe web-1"]
    finally:
        await prober.close()


def dying_prober() -> tuple[Prober, list[Change], list[tuple[str, str]]]:
    """A prober recording readiness flips and deaths."""
    changes: list[Change] = []
    deaths: list[tuple[str, str]] = []
    prober = Prober(
        lambda spec, ready, reason: changes.append((spec.name, ready, reason)),
        on_dead=lambda spec, reason: deaths.append((spec.name, reason)),
    )
    return prober, changes, deaths


async def test_the_other_probes_wait_for_the_startup_probe(health: Health) -> None:
    prober, changes, deaths = dying_prober()
    health.status = 503  # still starting
    startup = http_probe(failure_threshold=30)
    spec = dataclasses.replace(
        probed(health.port, probe=http_probe("/status/200")),
        liveness=http_probe("/status/500", failure_threshold=1),
        startup=startup,
    )
    try:
        prober.watch(spec)
        await asyncio.sleep(2.5)  # three startup checks fail; nothing else is checked
        assert (changes, deaths) == ([], [])
        assert [task.get_name() for task in probe_tasks()] == ["startup probe web-1"]

        health.status = 200
        await wait_until(lambda: bool(deaths), timeout=5, what="the liveness verdict")

        assert changes == [("web-1", True, None)]  # readiness began after startup
        assert deaths == [
            ("web-1", "liveness probe failed: HTTP probe failed with statuscode: 500")
        ]
    finally:
        await prober.close()


async def test_a_replica_that_never_starts_up_is_dead(health: Health) -> None:
    prober, changes, deaths = dying_prober()
    health.status = 503
    spec = dataclasses.replace(
        replica(ports=[("http", health.port)]), startup=http_probe(failure_threshold=2)
    )
    try:
        prober.watch(spec)
        await wait_until(lambda: bool(deaths), timeout=5, what="the startup verdict")
        await asyncio.sleep(1.2)

        assert deaths == [("web-1", "startup probe failed: HTTP probe failed with statuscode: 503")]
        assert (changes, probe_tasks()) == ([], [])
    finally:
        await prober.close()


async def test_without_a_readiness_probe_a_replica_is_ready_once_started_up(
    health: Health,
) -> None:
    prober, changes, _deaths = dying_prober()
    spec = dataclasses.replace(replica(ports=[("http", health.port)]), startup=http_probe())
    try:
        prober.watch(spec)
        await wait_until(lambda: bool(changes), timeout=3, what="ready")

        assert changes == [("web-1", True, None)]
        assert prober.verdicts() == {"web-1": (True, None)}
    finally:
        await prober.close()


async def test_without_on_dead_a_liveness_probe_is_not_run(health: Health) -> None:
    async with recording_prober() as (prober, _changes):
        spec = replica(ports=[("http", health.port)])
        prober.watch(dataclasses.replace(spec, liveness=http_probe()))
        assert (prober.watched(), probe_tasks()) == (frozenset(), [])


async def test_a_replica_without_a_probe_is_not_watched() -> None:
    async with recording_prober() as (prober, changes):
        prober.watch(replica(ports=[("http", free_port())]))
        assert prober.watched() == frozenset()
        assert probe_tasks() == []
        assert changes == []


# The agent


class ListSink:
    def __init__(self) -> None:
        self.sent: list[JsonEvent] = []

    def send(self, event: JsonEvent, *, supersedes: str | None = None) -> None:
        self.sent.append(event)

    def types(self) -> list[object]:
        return [event["type"] for event in self.sent]

    def entries(self, type_: str) -> list[object]:
        found: list[object] = []
        for event in self.sent:
            data = event["data"]
            if event["type"] == type_ and isinstance(data, dict):
                found += data["replicas"]
        return found


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AssignmentStore]:
    opened = AssignmentStore(tmp_path / "assignments.sqlite3")
    yield opened
    opened.close()


NOW = 1_700_000_000.25


@asynccontextmanager
async def running_agent(
    driver: Driver, store: AssignmentStore, *, clock: Callable[[], float] = time.time
) -> AsyncIterator[tuple[Agent, ListSink]]:
    sink = ListSink()
    agent = Agent(
        nodes=("n1",),
        capacity=Resources(4000, 8192),
        labels={},
        driver=driver,
        store=store,
        sink=sink,
        clock=clock,
    )
    async with agent_running(agent):
        yield agent, sink


async def schedule(agent: Agent, spec: ReplicaSpec) -> None:
    await agent.receive(shoal_event(events.REPLICA_SCHEDULED, scheduled_data(spec)))


def replica_reports(sink: ListSink) -> list[object]:
    return [t for t in sink.types() if t in (events.NODE_JOINED, STARTED, READY, UNREADY)]


async def test_a_simulated_replica_with_a_probe_is_ready_once_started(
    store: AssignmentStore,
) -> None:
    async with running_agent(SimDriver(), store, clock=lambda: NOW) as (agent, sink):
        await schedule(agent, probed(30001))
        await agent.drain(5)
        assert sink.entries(READY) == [
            {"deployment": "web", "replica": "web-1", "node": "n1", "at": NOW}
        ]
        assert replica_reports(sink) == [events.NODE_JOINED, STARTED, READY]


async def test_every_fifth_heartbeat_says_again_how_each_probed_replica_stands(
    store: AssignmentStore,
) -> None:
    async with running_agent(SimDriver(), store, clock=lambda: NOW) as (agent, sink):
        await schedule(agent, probed(30001))
        await schedule(agent, replica("web-2"))  # no probe: nothing to say again
        await agent.drain(5)
        ready_reports = []
        for _beat in range(11):  # beats 0, 5 and 10 list everything
            agent.send_heartbeats({})
            ready_reports.append(len(sink.entries(READY)))

        assert ready_reports == [2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4]
        assert {entry["replica"] for entry in sink.entries(READY)} == {"web-1"}  # type: ignore[index]
        await agent.receive(shoal_event(events.REPLICA_STOP_REQUESTED, stop_data(probed(30001))))
        await agent.drain(5)
        agent.send_heartbeats({})  # beat 11
        for _beat in range(4):  # up to beat 15, a full one
            agent.send_heartbeats({})
        assert len(sink.entries(READY)) == 4  # stopped: said no more


async def test_the_prober_keeps_each_replica_s_last_verdict(health: Health) -> None:
    async with recording_prober() as (prober, changes):
        prober.watch(probed(health.port, probe=http_probe(failure_threshold=1)))
        assert prober.verdicts() == {}  # nothing said yet
        await wait_until(lambda: len(changes) == 1, timeout=3, what="ready")
        assert prober.verdicts() == {"web-1": (True, None)}

        health.status = 503
        await wait_until(lambda: len(changes) == 2, timeout=3, what="unready")
        failed = "HTTP probe failed with statuscode: 503"
        assert prober.verdicts() == {"web-1": (False, failed)}

        prober.forget("web-1")
        assert prober.verdicts() == {}


async def test_an_adopted_simulated_replica_is_ready_after_its_node_joins(
    store: AssignmentStore,
) -> None:
    driver = SimDriver()
    async with running_agent(driver, store) as (agent, _sink):
        await schedule(agent, probed(30001))
    async with running_agent(driver, store) as (_agent, sink):
        assert replica_reports(sink) == [events.NODE_JOINED, STARTED, READY]


async def test_a_simulated_replica_without_a_probe_is_not_reported_ready(
    store: AssignmentStore,
) -> None:
    async with running_agent(SimDriver(), store) as (agent, sink):
        await schedule(agent, replica(ports=[("http", 30001)]))
        await agent.drain(5)
        assert STARTED in sink.types()
        assert READY not in sink.types()


async def test_an_exec_replica_is_ready_once_it_listens_and_quiet_once_stopped(
    store: AssignmentStore, tmp_path: Path
) -> None:
    driver = await ExecDriver.open(tmp_path / "exec", grace_seconds=0.5)
    port = free_port()
    server = [sys.executable, "-m", "http.server", "$PORT", "--bind", HOST]
    spec = dataclasses.replace(
        replica(command=server, ports=[("http", port)]),
        readiness=http_probe("/", failure_threshold=1),
    )
    try:
        async with running_agent(driver, store) as (agent, sink):
            await schedule(agent, spec)
            await wait_until(lambda: READY in sink.types(), timeout=10, what="replica.ready")
            assert await check_probe(http_probe("/"), HOST, port) is None  # it really listens
            assert sink.types() == [events.NODE_JOINED, STARTED, READY]
            [entry] = sink.entries(READY)
            assert isinstance(entry, dict)
            assert {key: entry[key] for key in ("deployment", "replica", "node")} == {
                "deployment": "web",
                "replica": "web-1",
                "node": "n1",
            }
            assert isinstance(entry["at"], float)
            assert "reason" not in entry

            await agent.receive(shoal_event(events.REPLICA_STOP_REQUESTED, stop_data(spec)))
            await wait_until(lambda: STOPPED in sink.types(), timeout=10, what="replica.stopped")
            await asyncio.sleep(1.5)  # a probe still running would fail (failureThreshold 1)
            assert sink.types() == [events.NODE_JOINED, STARTED, READY, STOPPED]
    finally:
        for status in await driver.list():
            await driver.stop(status.spec.name)
        await driver.close()


# exec probes: the verdict on a command's result

MARK_PROBE = ("sh", "-c", "test -e $MARK")
LONG_OUTPUT = "x" * 300 + "\nlast line\n"


@pytest.mark.parametrize(
    ("command", "result", "timeout", "verdict"),
    [
        (("pg_isready",), CommandResult(0, "accepting connections\n"), 1, None),
        (("pg_isready",), CommandResult(0), 1, None),
        (("pg_isready",), CommandResult(1), 1, "command pg_isready exited with 1"),
        (("pg_isready",), CommandResult(1, " \n\n"), 1, "command pg_isready exited with 1"),
        (MARK_PROBE, CommandResult(1), 1, "command sh -c 'test -e $MARK' exited with 1"),
        (
            ("pg_isready", "-h", "127.0.0.1"),
            CommandResult(3, LONG_OUTPUT),
            1,
            "command pg_isready -h 127.0.0.1 exited with 3: " + "x" * 190 + "\nlast line",
        ),
        (
            ("pg_isready",),
            CommandResult(None),
            2,
            "command pg_isready: no exit within 2s (timeoutSeconds)",
        ),
        (
            ("pg_isready",),
            CommandResult(None, "the previous check's command is still running"),
            2,
            "command pg_isready: the previous check's command is still running",
        ),
    ],
)
def test_exec_verdict(
    command: tuple[str, ...], result: CommandResult, timeout: int, verdict: str | None
) -> None:
    probe = Probe("exec", command=command, timeout_seconds=timeout)
    assert exec_verdict(probe, result) == verdict


# run_command: real processes

SHELL_ENV = {"PATH": os.defpath}


async def test_a_command_that_exits_0_gives_0_and_its_output(tmp_path: Path) -> None:
    result = await run_command(["echo", "fine"], env=SHELL_ENV, cwd=tmp_path, timeout=5)
    assert result == CommandResult(0, "fine\n")


async def test_a_command_s_exit_code_and_its_stdout_and_stderr_are_kept(tmp_path: Path) -> None:
    argv = ["sh", "-c", "echo out; echo err >&2; exit 3"]
    result = await run_command(argv, env=SHELL_ENV, cwd=tmp_path, timeout=5)
    assert result == CommandResult(3, "out\nerr\n")


async def test_only_the_end_of_a_command_s_output_is_kept(tmp_path: Path) -> None:
    argv = ["sh", "-c", f"head -c 5000 /dev/zero | tr '\\0' a; echo; echo {'b' * 100}"]
    result = await run_command(argv, env=SHELL_ENV, cwd=tmp_path, timeout=5)
    assert result.exit_code == 0
    assert result.output == "a" * (OUTPUT_KEPT - 102) + "\n" + "b" * 100 + "\n"


async def test_a_program_that_cannot_be_run_exits_127_saying_why(tmp_path: Path) -> None:
    argv = ["no-such-program-shoal-test", "--now"]
    result = await run_command(argv, env=SHELL_ENV, cwd=tmp_path, timeout=5)
    assert result == CommandResult(
        127, "cannot run 'no-such-program-shoal-test': No such file or directory"
    )


async def test_a_command_gets_exactly_the_environment_and_folder_given(tmp_path: Path) -> None:
    env = {"PATH": os.defpath, "GREETING": "hello"}
    printed = await run_command(["env"], env=env, cwd=tmp_path, timeout=5)
    assert sorted(printed.output.splitlines()) == ["GREETING=hello", f"PATH={os.defpath}"]
    folder = await run_command(["pwd"], env=env, cwd=tmp_path, timeout=5)
    assert folder == CommandResult(0, f"{tmp_path}\n")


def in_a_group(tmp_path: Path, script: str) -> tuple[Path, list[str]]:
    """A shell running `script` that first writes its pid (its process group's id) to a file."""
    pidfile = tmp_path / "group"
    return pidfile, ["sh", "-c", f"echo $$ > {pidfile}; {script}"]


async def test_a_command_still_running_at_the_timeout_is_killed_with_its_group(
    tmp_path: Path,
) -> None:
    pidfile, argv = in_a_group(tmp_path, "sleep 30 & sleep 30")
    began = time.monotonic()
    running = asyncio.create_task(run_command(argv, env=SHELL_ENV, cwd=tmp_path, timeout=1))
    await wait_until(lambda: pidfile.exists() and pidfile.read_text().endswith("\n"), timeout=5)
    group = int(pidfile.read_text())
    await wait_until(lambda: len(group_members(group)) >= 2, timeout=5, what="both sleeps")

    result = await asyncio.wait_for(running, 5)

    assert result == CommandResult(None)
    assert time.monotonic() - began < 3
    # Killed ones may linger as zombies until reaped by init: /proc says whether any still runs.
    await wait_until(lambda: group_members(group) == [], timeout=2, what="the group gone")


async def test_a_command_s_exit_is_the_verdict_and_its_leftover_children_go(
    tmp_path: Path,
) -> None:
    pidfile, argv = in_a_group(tmp_path, "sleep 30 & echo done")
    began = time.monotonic()

    result = await run_command(argv, env=SHELL_ENV, cwd=tmp_path, timeout=5)

    assert result == CommandResult(0, "done\n")
    assert time.monotonic() - began < 3  # not held until the timeout by the child's open output
    group = int(pidfile.read_text())
    await wait_until(lambda: group_members(group) == [], timeout=2, what="the sleep gone")


# Drivers running a probe's command


async def test_the_exec_driver_runs_a_command_as_the_replica_with_its_variables(
    exec_driver: ExecDriver,
) -> None:
    port = free_port()
    spec = replica(command=["sleep", "30"], env={"GREETING": "hello"}, ports=[("http", port)])
    await exec_driver.start(spec)

    assert await exec_driver.run_in("web-1", ["echo", "$PORT"], 5) == CommandResult(0, f"{port}\n")
    printed = await exec_driver.run_in("web-1", ["env"], 5)
    assert sorted(printed.output.splitlines()) == [
        "GREETING=hello",
        "LANG=C.UTF-8",
        f"PATH={os.defpath}",
        f"PORT={port}",
        f"PORT_HTTP={port}",
    ]
    folder = await exec_driver.run_in("web-1", ["pwd"], 5)
    assert folder == CommandResult(0, f"{exec_driver.state_dir / 'web-1'}\n")
    assert await exec_driver.run_in("web-1", ["sh", "-c", "exit 4"], 5) == CommandResult(4)


async def test_the_exec_driver_runs_nothing_for_a_replica_it_does_not_run(
    exec_driver: ExecDriver,
) -> None:
    with pytest.raises(DriverError, match=r"^replica web-9 does not run here$"):
        await exec_driver.run_in("web-9", ["true"], 5)
    await exec_driver.start(replica(command=["sh", "-c", "exit 2"]))
    await asyncio.wait_for(anext(exec_driver.exits()), 10)
    with pytest.raises(DriverError, match=r"^replica web-1 does not run here$"):
        await exec_driver.run_in("web-1", ["true"], 5)


async def test_the_sim_driver_s_commands_all_succeed() -> None:
    driver = SimDriver()
    await driver.start(replica())
    assert await driver.run_in("web-1", ["sh", "-c", "exit 1"], 1) == CommandResult(0)
    with pytest.raises(DriverError, match=r"^replica web-9 does not run here$"):
        await driver.run_in("web-9", ["true"], 1)
    await driver.stop("web-1")
    with pytest.raises(DriverError, match=r"^replica web-1 does not run here$"):
        await driver.run_in("web-1", ["true"], 1)


async def test_the_sim_driver_runs_nothing_in_a_replica_that_exited() -> None:
    driver = SimDriver()
    await driver.start(replica(env={EXIT_AFTER_ENV: "0.05"}))
    await asyncio.wait_for(anext(driver.exits()), 5)
    with pytest.raises(DriverError, match=r"^replica web-1 does not run here$"):
        await driver.run_in("web-1", ["true"], 1)


# The agent with an exec probe


def marked(
    mark: Path,
    *,
    readiness: Probe | None = None,
    liveness: Probe | None = None,
    startup: Probe | None = None,
) -> ReplicaSpec:
    """A replica sleeping, with these probes; its variable MARK names `mark`."""
    spec = replica(command=["sleep", "30"], env={"MARK": str(mark)})
    return dataclasses.replace(spec, readiness=readiness, liveness=liveness, startup=startup)


async def schedule_and_see_it_start(agent: Agent, sink: ListSink, spec: ReplicaSpec) -> None:
    await schedule(agent, spec)
    await wait_until(lambda: STARTED in sink.types(), timeout=5, what="replica.started")


async def test_an_exec_replica_is_ready_while_its_probe_command_exits_0(
    store: AssignmentStore, exec_driver: ExecDriver, tmp_path: Path
) -> None:
    mark = tmp_path / "mark"
    spec = marked(mark, readiness=Probe("exec", command=MARK_PROBE, period_seconds=1))
    async with running_agent(exec_driver, store) as (agent, sink):
        await schedule_and_see_it_start(agent, sink, spec)
        await asyncio.sleep(1.2)  # two checks, both failing: not ready
        assert replica_reports(sink) == [events.NODE_JOINED, STARTED]

        mark.touch()
        await wait_until(lambda: READY in sink.types(), timeout=5, what="replica.ready")
        mark.unlink()
        await wait_until(lambda: UNREADY in sink.types(), timeout=5, what="replica.unready")

        assert replica_reports(sink) == [events.NODE_JOINED, STARTED, READY, UNREADY]
        [entry] = sink.entries(UNREADY)
        assert isinstance(entry, dict)
        assert entry["reason"] == "command sh -c 'test -e $MARK' exited with 1"


async def test_a_replica_that_fails_its_liveness_probe_is_killed_and_reported_exited(
    store: AssignmentStore, exec_driver: ExecDriver, tmp_path: Path
) -> None:
    mark = tmp_path / "mark"
    mark.touch()
    probe = Probe("exec", command=MARK_PROBE, period_seconds=1, failure_threshold=2)
    async with running_agent(exec_driver, store) as (agent, sink):
        await schedule_and_see_it_start(agent, sink, marked(mark, liveness=probe))
        await asyncio.sleep(1.5)  # checks pass: it lives on
        assert [status.spec.name for status in await exec_driver.list()] == ["web-1"]

        mark.unlink()
        exited = events.REPLICA_EXITED
        await wait_until(lambda: exited in sink.types(), timeout=10, what="replica.exited")

        [entry] = unstamped(sink.entries(exited))
        assert entry == {
            "deployment": "web",
            "replica": "web-1",
            "node": "n1",
            "exit_code": 137,
            "reason": "liveness probe failed: command sh -c 'test -e $MARK' exited with 1; "
            "killed, to be restarted",
        }
        assert await exec_driver.list() == []  # killed, and forgotten as an exited one is
        assert agent.running() == {}


async def test_a_replica_that_never_passes_its_startup_probe_is_killed(
    store: AssignmentStore, exec_driver: ExecDriver, tmp_path: Path
) -> None:
    probe = Probe("exec", command=MARK_PROBE, period_seconds=1, failure_threshold=2)
    async with running_agent(exec_driver, store) as (agent, sink):
        await schedule_and_see_it_start(agent, sink, marked(tmp_path / "never", startup=probe))
        exited = events.REPLICA_EXITED
        await wait_until(lambda: exited in sink.types(), timeout=10, what="replica.exited")

        [entry] = unstamped(sink.entries(exited))
        assert entry["exit_code"] == 137
        assert entry["reason"] == (
            "startup probe failed: command sh -c 'test -e $MARK' exited with 1; "
            "killed, to be restarted"
        )
        assert READY not in sink.types()
        assert await exec_driver.list() == []
