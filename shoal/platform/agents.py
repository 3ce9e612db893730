"""The node agent `shoal up --driver sim|exec|docker` runs beside the functions.

The agent is one more supervised child: `shoal agent --name sim --driver sim --nodes N
--broker <ingress> --write-trigger <triggers folder>`. It is started once the functions answer,
so its `node.joined` events find them listening, and `shoal up` reports it ready only once the
broker has loaded its Trigger: a replica scheduled before that would reach no agent (a new
Trigger sees only later events) and wait for the deployments function's 30 s re-request.

The triggers folder (`<data dir>/triggers`) is an extra manifests path of the broker, which
reloads it within about a second of a change. `shoal up` watches it with or without `--driver`,
so an agent started by hand (`shoal agent ... --write-trigger .shoal/triggers`) joins the local
platform the same way. The Trigger of `shoal up`'s own agent is removed when it stops.

`shoal up`'s agent runs with `--stop-replicas-on-exit`: Ctrl-C stops the replicas with the rest
(as the sim driver's end with its process anyway), and the next `shoal up` starts them again from
the agent's assignments. A standalone agent leaves them running for the next agent to adopt.

An agent that exits with `EXIT_CANNOT_RUN` (no Docker engine answers, a bad option) would fail
the same way on every restart, so it is not restarted: `shoal up` stops, with the agent's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from local_broker.server import BrokerServer
from shoal.agent.errors import EXIT_CANNOT_RUN
from shoal.agent.settings import node_names
from shoal.agent.trigger import broker_of, trigger_name
from shoal.platform.plan import PlanError
from shoal.platform.retired import AGENTS_FOLDER
from shoal.platform.supervisor import ProcessSpec, SupervisedProcess, describe_exit

__all__ = [
    "UP_DRIVERS",
    "AgentCannotRun",
    "AgentOptions",
    "LocalAgent",
    "agent_process",
    "start_when_serving",
    "triggers_folder",
]

UP_DRIVERS = ("sim", "exec", "docker")
AGENT_NAMES = {"sim": "sim", "exec": "local", "docker": "docker"}
TRIGGERS_FOLDER = "triggers"
# What `shoal agent` prints once it serves, and before each error (shoal/cli/agent.py).
SERVING = re.compile(r"^agent (?P<name>\S+): (?P<url>\S+) \(nodes .*\)$")
ERROR_PREFIX = "shoal agent: "
TRIGGER_POLL_SECONDS = 0.1
# The agent's own stop: finishing driver work (up to its 10 s stop grace), posting what is
# queued (5 s), then stopping the replicas (10 s grace each, in parallel). SIGKILL only after.
AGENT_STOP_GRACE_SECONDS = 40.0

Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """`shoal up`'s agent: its driver, how many nodes it simulates, each node's capacity
    (None: the agent's default, this machine's) and labels."""

    driver: str
    nodes: int = 1
    cpu_millis: int | None = None
    memory_mib: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.driver not in UP_DRIVERS:
            raise PlanError(f"--driver {self.driver}: choose one of {', '.join(UP_DRIVERS)}")
        if self.nodes < 1 or (self.nodes > 1 and self.driver != "sim"):
            raise PlanError(
                f"--nodes {self.nodes}: at least 1, and more than 1 only with --driver sim"
            )
        for option, value in (
            ("--agent-cpu", self.cpu_millis),
            ("--agent-memory", self.memory_mib),
        ):
            if value is not None and value < 0:
                raise PlanError(f"{option} {value}: must not be negative")

    @property
    def name(self) -> str:
        return AGENT_NAMES[self.driver]

    @property
    def node_names(self) -> tuple[str, ...]:
        return node_names(self.name, self.nodes)

    @property
    def label_list(self) -> str:
        """The labels as `--labels` takes them: `K=V,...`."""
        return ",".join(f"{key}={value}" for key, value in self.labels.items())


def triggers_folder(data_dir: Path) -> Path:
    return data_dir / TRIGGERS_FOLDER


def agent_process(options: AgentOptions, broker_url: str, data_dir: Path) -> ProcessSpec:
    """The agent's command: this interpreter's `shoal agent`, its state in the data folder."""
    command = [
        sys.executable,
        "-m",
        "shoal.cli.main",
        "agent",
        "--name",
        options.name,
        "--driver",
        options.driver,
        "--nodes",
        str(options.nodes),
        "--broker",
        broker_url,
        "--write-trigger",
        str(triggers_folder(data_dir)),
        "--data-dir",
        str(data_dir / AGENTS_FOLDER / options.name),
        "--stop-replicas-on-exit",
    ]
    if options.cpu_millis is not None:
        command += ["--cpu", str(options.cpu_millis)]
    if options.memory_mib is not None:
        command += ["--memory", str(options.memory_mib)]
    if options.labels:
        command += ["--labels", options.label_list]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return ProcessSpec(
        "agent", command, env, Path.cwd(), final_exit_codes=frozenset({EXIT_CANNOT_RUN})
    )


class AgentCannotRun(Exception):  # noqa: N818 - reads as what happened, like StateInUse
    """`shoal up`'s agent exited saying it cannot run as configured; the message is its own."""


class LocalAgent:
    """`shoal up`'s agent process: started on demand, its endpoint learnt from its output.
    It is restarted when it exits, unless with `EXIT_CANNOT_RUN`: then `failure` says why (the
    agent's own error line) and `gave_up` is called."""

    def __init__(
        self,
        options: AgentOptions,
        broker_url: str,
        data_dir: Path,
        output: Report,
        report: Report,
        *,
        gave_up: Callable[[], None] = lambda: None,
    ) -> None:
        self.options = options
        self.trigger_key = f"{broker_of(broker_url)[0]}/{trigger_name(options.name)}"
        """The agent's Trigger as the broker names it (`namespace/name`)."""
        self.trigger_path = triggers_folder(data_dir) / f"{trigger_name(options.name)}.yaml"
        self.url: str | None = None
        self.failure: AgentCannotRun | None = None
        self._output = output
        self._gave_up = gave_up
        self._last_error: str | None = None
        self._serving = asyncio.Event()
        self._child = SupervisedProcess(
            agent_process(options, broker_url, data_dir),
            self._watch,
            report,
            stop_grace_seconds=AGENT_STOP_GRACE_SECONDS,
            gave_up=self._give_up,
        )
        self._started = False

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def start(self) -> None:
        # A Trigger left by an earlier run names a port nobody listens on any more.
        with contextlib.suppress(FileNotFoundError):
            self.trigger_path.unlink()
        self._child.start()
        self._started = True

    async def serving(self, timeout: float) -> str | None:
        """The agent's endpoint once it serves; None if it does not within `timeout` s."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._serving.wait(), timeout)
        return self.url

    async def stop(self) -> None:
        """Stop the agent (it posts what it still has queued) and remove its Trigger."""
        if self._started:
            await self._child.stop()
        with contextlib.suppress(FileNotFoundError):
            self.trigger_path.unlink()

    def describe(self) -> str:
        names = self.options.node_names
        nodes = ", ".join(names) if len(names) <= 3 else f"{names[0]} .. {names[-1]}"
        state = f"pid {self.pid}" if self.url and self.pid else "NOT SERVING (see its output)"
        labelled = f"; labels {self.options.label_list}" if self.options.labels else ""
        return (
            f"{self.options.name}: {self.url or '-'} ({state}; {self.options.driver} driver, "
            f"{len(names)} node(s): {nodes}{labelled})"
        )

    def _watch(self, line: str) -> None:
        match = SERVING.match(line)
        if match is not None and match["name"] == self.options.name:
            self.url = match["url"]
            self._serving.set()
        elif line.startswith(ERROR_PREFIX):
            self._last_error = line.removeprefix(ERROR_PREFIX)
        self._output(line)

    def _give_up(self, returncode: int) -> None:
        why = self._last_error or f"it exited with {describe_exit(returncode)} (see its output)"
        self.failure = AgentCannotRun(f"the node agent cannot run: {why}")
        self._gave_up()


async def start_when_serving(agent: LocalAgent, server: BrokerServer, timeout: float) -> bool:
    """Start the agent; True once it serves and `server` has loaded its Trigger, False if that
    takes more than `timeout` seconds (the agent keeps running: it may still come up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    agent.start()
    if await agent.serving(timeout) is None:
        return False
    while not _has_trigger(server, agent.trigger_key):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(TRIGGER_POLL_SECONDS)
    return True


def _has_trigger(server: BrokerServer, key: str) -> bool:
    config = server.runtime.config
    return config is not None and any(trigger.key == key for trigger in config.triggers)
