"""A local platform as whole-system tests and benchmarks drive it: real processes, loopback only.

    with running_platform(tmp / "data", root=project) as platform:
        with running_agent(platform, "n1", cpu_millis=4000) as agent:
            post_event(platform.ingress, DEPLOYMENT_APPLIED, {"manifest": document})
            agent.kill()  # SIGKILL: the node goes silent

`running_platform` runs `shoal up` (the broker in that process, one process per function) in a
process group of its own, waits for its `ready` line and stops the whole group on exit.
`running_agent` runs one `shoal agent --driver sim` that writes its Trigger into the platform's
triggers folder, and returns once the broker has loaded that Trigger (seen in its /metrics), so
replicas scheduled from then on reach it. Every wait is bounded; a process that dies early
fails the wait at once, with what it printed (`harness_processes`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shoal.agent.settings import node_names
from shoal.agent.trigger import trigger_name
from shoal.platform.agents import SERVING, triggers_folder
from shoal.platform.harness_processes import HarnessError, ProcessOutput, start_shoal, stop_group
from shoal.platform.ports import free_port

__all__ = [
    "HarnessError",
    "ProcessOutput",
    "RunningAgent",
    "RunningPlatform",
    "free_port",
    "post_event",
    "running_agent",
    "running_platform",
    "set_sim_load",
]

READY_LINE = "ready; Ctrl-C stops everything"
UP_AGENT_LINE = re.compile(r"^agent +\S+: (?P<url>http\S+) \(pid \d+;")
UP_API_LINE = re.compile(r"^api\s+(?P<url>http://\S+)")
STOP_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.05
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass
class RunningPlatform:
    process: subprocess.Popen[str]
    output: ProcessOutput
    port: int
    data_dir: Path
    root: Path
    echo: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ingress(self) -> str:
        return f"{self.url}/default/default"

    @property
    def triggers(self) -> Path:
        return triggers_folder(self.data_dir)

    def agent_url(self) -> str:
        """The endpoint of `shoal up`'s own agent (`--driver`), from its `agent ...` line."""
        return self._printed_url(UP_AGENT_LINE, "no agent endpoint (was it given --driver?)")

    def api_url(self) -> str:
        """The API function's URL (`shoal get` reads it), from `shoal up`'s `api ...` line."""
        return self._printed_url(UP_API_LINE, "no API URL")

    def _printed_url(self, line_pattern: re.Pattern[str], missing: str) -> str:
        self.output.drain()
        for line in self.output.lines:
            if match := line_pattern.match(line):
                return match["url"]
        raise HarnessError(f"shoal up printed {missing}")

    def has_trigger(self, key: str) -> bool:
        """Whether the broker runs the Trigger `namespace/name` (its metrics name it)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=HTTP_TIMEOUT_SECONDS) as answer:
            return f'trigger="{key}"' in answer.read().decode("utf-8", "replace")


@contextmanager
def running_platform(
    data_dir: Path,
    *,
    root: Path,
    up_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 120.0,
    echo: bool = False,
) -> Iterator[RunningPlatform]:
    """`shoal up --data-dir DATA_DIR --port <free> UP_ARGS`, run from `root` (the project),
    until its `ready` line; stopped (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    args = ["up", "--data-dir", str(data_dir), "--port", str(port), "--api-port", "0", *up_args]
    process, output = start_shoal(args, root, env, echo=echo)
    try:
        output.wait_for(re.escape(READY_LINE), ready_timeout)
        yield RunningPlatform(process, output, port, data_dir.resolve(), root, echo)
    finally:
        stop_group(process, STOP_GRACE_SECONDS)


@dataclass
class RunningAgent:
    name: str
    process: subprocess.Popen[str]
    output: ProcessOutput
    url: str
    nodes: tuple[str, ...]

    def kill(self) -> float:
        """SIGKILL the agent (its replicas die with it); the time.time() of the kill."""
        killed_at = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=HTTP_TIMEOUT_SECONDS)
        return killed_at


def set_sim_load(agent_url: str, deployment: str, cpu_utilization: float) -> Mapping[str, object]:
    """POST /sim/load to a sim agent: its replicas of `deployment` report this cpu utilisation
    from their next heartbeat on; the agent's answer."""
    body = json.dumps({"deployment": deployment, "cpu_utilization": cpu_utilization})
    request = urllib.request.Request(
        f"{agent_url.rstrip('/')}/sim/load", data=body.encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as answer:
        result: Mapping[str, object] = json.load(answer)
        return result


@contextmanager
def running_agent(
    platform: RunningPlatform,
    name: str,
    *,
    nodes: int = 1,
    cpu_millis: int = 4000,
    memory_mib: int = 8192,
    labels: Mapping[str, str] | None = None,
    heartbeat_interval: float = 1.0,
    ready_timeout: float = 60.0,
) -> Iterator[RunningAgent]:
    """A sim agent of `nodes` nodes posting to the platform's broker; yielded once the broker
    delivers to it. Stopped (SIGTERM, then SIGKILL) on exit unless killed before."""
    args = [
        "agent",
        "--name",
        name,
        "--driver",
        "sim",
        "--nodes",
        str(nodes),
        "--broker",
        platform.ingress,
        "--write-trigger",
        str(platform.triggers),
        "--data-dir",
        str(platform.data_dir / "agents" / name),
        "--cpu",
        str(cpu_millis),
        "--memory",
        str(memory_mib),
        "--heartbeat-interval",
        str(heartbeat_interval),
    ]
    if labels:
        args += ["--labels", ",".join(f"{key}={value}" for key, value in labels.items())]
    process, output = start_shoal(args, platform.root, None, echo=platform.echo)
    try:
        serving = output.wait_for(SERVING, ready_timeout)
        agent = RunningAgent(name, process, output, serving["url"], node_names(name, nodes))
        key = f"default/{trigger_name(name)}"
        deadline = time.monotonic() + ready_timeout
        while not platform.has_trigger(key):
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"the broker did not load the Trigger {key} in {ready_timeout} s"
                )
            time.sleep(POLL_SECONDS * 4)
        yield agent
    finally:
        stop_group(process, STOP_GRACE_SECONDS)


def post_event(
    ingress: str,
    event_type: str,
    data: Mapping[str, object],
    *,
    subject: str | None = None,
    source: str = "/shoal/harness",
) -> str:
    """POST one binary-mode CloudEvent; its id once the broker answered 202."""
    event_id = str(uuid.uuid4())
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": event_type,
        "Content-Type": "application/json",
    }
    if subject is not None:
        headers["ce-subject"] = subject
    request = urllib.request.Request(
        ingress, data=json.dumps(data).encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    if status != 202:
        raise HarnessError(f"the broker answered {status} to {event_type}")
    return event_id
