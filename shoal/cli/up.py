"""`shoal up`: the whole platform on one machine, from the same manifests Knative gets.

The broker runs inside this process (a `BrokerServer` on this event loop) rather than as a
`shoal broker` child: a bad manifest then fails `shoal up` before any function starts, the
broker's bound port is known at once for every function's K_SINK, and there is one process
fewer to supervise. Each Knative Service of the manifests runs as its own child process (its
container command, `functions-framework`, with its environment plus PORT and K_SINK), on a
free port that the broker maps the Service's name to (the API function, which `shoal get`
reads, on a fixed one: `--api-port`, 8081 by default). State is SQLite in the data folder.
With `--driver`, a node agent runs too (`shoal.platform.agents`); the broker always watches the
data folder's `triggers/`, where agents write their Triggers.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from local_broker import native
from local_broker.log import LogError
from local_broker.manifests import ManifestError, load_manifests
from local_broker.server import BrokerServer
from local_broker.settings import BrokerSettings
from shoal.cli import up_agent
from shoal.cli.endpoints import API_SERVICE, DEFAULT_API_PORT, pointing_hint
from shoal.manifests import files
from shoal.manifests.render import default_image, render
from shoal.manifests.resources import STATE_SECRET, Target
from shoal.platform import agents, plan
from shoal.platform.datadir import own_data_dir
from shoal.platform.ports import free_port
from shoal.platform.retired import remove_retired_nodes
from shoal.platform.supervisor import ProcessSpec, SupervisedProcess
from shoal.runtime.discovery import discover
from shoal.runtime.errors import FunctionDefinitionError
from shoal.runtime.settings import sqlite_url

READY_TIMEOUT_SECONDS = 30.0
DEFAULT_MANIFESTS = Path("manifests/base")
DEFAULT_FUNCTIONS = Path("functions")


@dataclass(frozen=True, slots=True)
class UpSettings:
    data_dir: Path
    port: int
    manifests: Path
    functions: Path
    host: str = "127.0.0.1"
    agent: agents.AgentOptions | None = None
    api_port: int = DEFAULT_API_PORT


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "up",
        help="run the broker and every function locally",
        description="Run the local broker with the manifests, and every Knative Service in them "
        "as a local functions-framework process. Run it from the project root. Ctrl-C stops all.",
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".shoal"), metavar="DIR")
    parser.add_argument("--port", type=int, default=8080, help="the broker's port (default 8080)")
    parser.add_argument("--manifests", type=Path, default=DEFAULT_MANIFESTS, metavar="DIR")
    parser.add_argument("--functions", type=Path, default=DEFAULT_FUNCTIONS, metavar="DIR")
    parser.add_argument(
        "--api-port",
        type=int,
        default=DEFAULT_API_PORT,
        metavar="PORT",
        help=f"the API function's port, where `shoal get` looks (default {DEFAULT_API_PORT}; "
        "0: any free port)",
    )
    up_agent.add_agent_arguments(parser)
    parser.set_defaults(run=run_up)


def run_up(args: argparse.Namespace) -> int:
    try:
        agent = up_agent.agent_options(args)
    except plan.PlanError as error:
        print(f"shoal up: {error}", file=sys.stderr)
        return 2
    settings = UpSettings(
        args.data_dir,
        args.port,
        args.manifests,
        args.functions,
        agent=agent,
        api_port=args.api_port,
    )
    try:
        asyncio.run(up(settings, lambda line: print(line, flush=True)))
    except (plan.PlanError, ManifestError, LogError, agents.AgentCannotRun) as error:
        print(f"shoal up: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"shoal up: cannot listen on port {settings.port}: {error}", file=sys.stderr)
        return 1
    return 0


def stale_warning(settings: UpSettings) -> str | None:
    """Why the manifests may not run what functions/ holds, or None when they are current."""
    if not settings.functions.is_dir():
        return None
    try:
        rendered = render(discover(settings.functions), Path.cwd(), Target(default_image()))
    except FunctionDefinitionError as error:
        return f"the functions cannot be rendered ({error}); running the manifests as they are"
    if files.diff(rendered, settings.manifests):
        return f"{settings.manifests} is stale: run `shoal manifests` to run your latest functions"
    return None


async def up(settings: UpSettings, say: Callable[[str], None]) -> None:
    """Run until SIGINT or SIGTERM; then stop the agent, the broker, then every function.
    AgentCannotRun (after stopping all) when the agent exits saying it cannot run as configured."""
    with _stop_on_signals() as stopping, own_data_dir(settings.data_dir):
        await _run(settings, say, stopping)


async def _run(settings: UpSettings, say: Callable[[str], None], stopping: asyncio.Event) -> None:
    if not settings.manifests.is_dir():
        raise plan.PlanError(
            f"no folder {settings.manifests}: run from the project root, or `shoal manifests`"
        )
    warning = stale_warning(settings)
    if warning:
        say(f"warning: {warning}")
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    state_url = sqlite_url(data_dir)
    services = plan.services(
        settings.manifests, {(STATE_SECRET["name"], STATE_SECRET["key"]): state_url}
    )
    ports = {service.name: free_port() for service in services}
    if API_SERVICE in ports:
        ports[API_SERVICE] = plan.port_or_free(settings.api_port, "the API function (--api-port)")
    triggers = agents.triggers_folder(data_dir)
    triggers.mkdir(exist_ok=True)
    port = plan.port_or_free(settings.port, "the broker (--port)")
    broker_settings = BrokerSettings(
        manifests=(settings.manifests, triggers),
        host=settings.host,
        port=port,
        data_dir=data_dir,
        services={name: f"http://127.0.0.1:{bound}" for name, bound in ports.items()},
    )
    # A bad manifest fails `shoal up` before any function starts.
    await asyncio.to_thread(_check_manifests, broker_settings)
    namespace, broker = plan.sink_broker(settings.manifests)
    sink = f"http://{settings.host}:{port}/{namespace}/{broker}"
    children: list[SupervisedProcess] = []
    agent: agents.LocalAgent | None = None
    server: BrokerServer | None = None
    try:
        width = max((len(service.name) for service in services), default=0)
        for service in services:
            spec = ProcessSpec(
                service.name,
                service.command,
                service.environment(ports[service.name], sink),
                Path.cwd(),
            )
            child = SupervisedProcess(spec, _prefixed(say, service.name, width), say)
            child.start()
            children.append(child)
        # The broker starts once the functions answer, so its first deliveries (PingSource
        # ticks, events the log kept from an earlier run) find them listening.
        waiting = asyncio.gather(*(_wait_ready(ports[c.spec.name]) for c in children))
        if not await _unless_stopped(waiting, stopping):
            return
        ready = waiting.result()
        server = BrokerServer(broker_settings)
        await server.start()
        running = None if settings.agent is None else settings.agent.name
        await remove_retired_nodes(data_dir, running, sink, say)
        if settings.agent is not None:
            output = _prefixed(say, "agent", width)
            agent = agents.LocalAgent(
                settings.agent, sink, data_dir, output, say, gave_up=stopping.set
            )
        announcing = asyncio.create_task(
            _announce(
                server,
                children=children,
                ready=ready,
                ports=ports,
                state_url=state_url,
                say=say,
                agent=agent,
            )
        )
        if await _unless_stopped(announcing, stopping):
            await stopping.wait()
        say("stopping")
    finally:
        if agent is not None:  # first: it posts what it still has queued to the broker
            await agent.stop()
        if server is not None:
            await server.stop()
        await asyncio.gather(*(child.stop() for child in children))
    if agent is not None and agent.failure is not None:
        raise agent.failure


def _check_manifests(settings: BrokerSettings) -> None:
    """Raise ManifestError as the broker would at start-up."""
    load_manifests(
        list(settings.manifests),
        settings.services,
        broker_url=lambda namespace, name: (
            f"http://{settings.host}:{settings.port}/{namespace}/{name}"
        ),
    )


async def _unless_stopped(work: asyncio.Future[Any], stopping: asyncio.Event) -> bool:
    """Wait for `work`; False (and `work` cancelled) when SIGINT/SIGTERM comes first."""
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if work.done():
        return True
    work.cancel()
    return False


def _prefixed(say: Callable[[str], None], name: str, width: int) -> Callable[[str], None]:
    return lambda line: say(f"{name:<{width}} | {line}")


async def _announce(
    server: BrokerServer,
    *,
    children: list[SupervisedProcess],
    ready: list[bool],
    ports: dict[str, int],
    state_url: str,
    say: Callable[[str], None],
    agent: agents.LocalAgent | None,
) -> None:
    if agent is not None:
        await agents.start_when_serving(agent, server, READY_TIMEOUT_SECONDS)
    config = server.runtime.config
    assert config is not None
    say(f"state    {state_url}")
    for namespace, name in sorted(config.brokers):
        say(f"broker   {namespace}/{name}: {server.ingress_url(namespace, name)}")
    say(f"         {len(config.triggers)} trigger(s), {len(config.ping_sources)} ping source(s)")
    say(f"         hot path: {native.status().describe()}")
    for child, is_ready in zip(children, ready, strict=True):
        state = f"pid {child.pid}" if is_ready else "NOT READY (see its output)"
        say(f"function {child.spec.name}: http://127.0.0.1:{ports[child.spec.name]} ({state})")
    api_url = f"http://127.0.0.1:{ports[API_SERVICE]}" if API_SERVICE in ports else None
    if api_url is not None:
        say(f"api      {api_url} (`shoal get` reads it)")
    hint = pointing_hint(server.ingress_url("default", "default"), api_url)
    if hint is not None:
        say(f"cli      not on the CLI's default ports; point it here with: {hint}")
    if agent is not None:
        say(f"agent    {agent.describe()}")
    say(f"triggers {agents.triggers_folder(server.settings.data_dir)} (agents write theirs here)")
    say("ready; Ctrl-C stops everything")


async def _wait_ready(port: int) -> bool:
    """True once GET / answers 200 (the runtime's readiness answer), False after the timeout."""
    url = f"http://127.0.0.1:{port}/"
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return True
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    return False


@contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGTERM or SIGINT, from the very start, so no signal kills us midway."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        yield stopping
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
