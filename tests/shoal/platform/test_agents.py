"""`shoal up`'s node agent: its options, its command, and learning its endpoint."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from shoal.agent.errors import EXIT_CANNOT_RUN
from shoal.cli.agent import settings_from
from shoal.cli.main import build_parser
from shoal.cli.up_agent import agent_options
from shoal.platform.agents import (
    AgentOptions,
    LocalAgent,
    agent_process,
    triggers_folder,
)

BROKER = "http://127.0.0.1:8080/default/default"


def test_the_agent_command_posts_to_the_broker_and_writes_its_trigger_where_it_is_watched(
    tmp_path: Path,
) -> None:
    spec = agent_process(AgentOptions("sim", 3, 2000, 4096, {"zone": "a"}), BROKER, tmp_path)

    assert spec.command[:3] == [sys.executable, "-m", "shoal.cli.main"]
    arguments = list(spec.command[3:])
    arguments.remove("--stop-replicas-on-exit")  # Ctrl-C on shoal up stops the replicas too
    assert arguments[:7] == ["agent", "--name", "sim", "--driver", "sim", "--nodes", "3"]
    pairs = dict(zip(arguments[7::2], arguments[8::2], strict=True))
    assert pairs == {
        "--broker": BROKER,
        "--write-trigger": str(triggers_folder(tmp_path)),
        "--data-dir": str(tmp_path / "agents" / "sim"),
        "--cpu": "2000",
        "--memory": "4096",
        "--labels": "zone=a",
    }
    assert spec.final_exit_codes == {EXIT_CANNOT_RUN}  # a bad configuration is not retried


def test_the_agent_shoal_up_runs_gets_its_labels(tmp_path: Path) -> None:
    up = build_parser("up").parse_args(["up", "--driver", "exec", "--labels", "zone=a,disk=ssd"])
    options = agent_options(up)
    assert options is not None
    spec = agent_process(options, BROKER, tmp_path)

    agent = settings_from(build_parser("agent").parse_args(spec.command[3:]))

    assert dict(agent.labels) == {"zone": "a", "disk": "ssd"}


def test_an_exec_agent_is_named_local_and_takes_the_machine_s_capacity(tmp_path: Path) -> None:
    spec = agent_process(AgentOptions("exec"), BROKER, tmp_path)

    assert spec.command[spec.command.index("--name") + 1] == "local"
    assert "--cpu" not in spec.command
    assert "--memory" not in spec.command
    assert "--labels" not in spec.command


async def test_the_endpoint_is_learnt_from_the_agent_s_output(tmp_path: Path) -> None:
    printed: list[str] = []
    agent = LocalAgent(AgentOptions("sim", 3), BROKER, tmp_path, printed.append, printed.append)

    agent._watch("INFO shoal.agent: starting")
    assert await agent.serving(0.01) is None
    agent._watch("agent sim: http://127.0.0.1:41234/ (nodes sim-0, sim-1, sim-2)")

    assert await asyncio.wait_for(agent.serving(1.0), 2.0) == "http://127.0.0.1:41234/"
    assert printed[-1].startswith("agent sim:")  # every line is passed on
    assert agent.trigger_key == "default/agent-sim"
    assert agent.trigger_path == tmp_path / "triggers" / "agent-sim.yaml"
    assert "3 node(s): sim-0, sim-1, sim-2)" in agent.describe()


def test_an_agent_that_cannot_run_fails_with_its_own_error_line(tmp_path: Path) -> None:
    gave_up: list[str] = []
    agent = LocalAgent(
        AgentOptions("docker", labels={"zone": "a"}),
        BROKER,
        tmp_path,
        print,
        print,
        gave_up=lambda: gave_up.append("gave up"),
    )
    assert agent.describe().endswith("1 node(s): docker; labels zone=a)")

    agent._watch("INFO shoal.agent: starting")
    agent._watch("shoal agent: no Docker engine answers (refused); set DOCKER_HOST (for example)")
    assert (agent.failure, gave_up) == (None, [])  # an error line alone ends nothing
    agent._child._gave_up(EXIT_CANNOT_RUN)

    assert str(agent.failure) == (
        "the node agent cannot run: no Docker engine answers (refused); set DOCKER_HOST "
        "(for example)"
    )
    assert gave_up == ["gave up"]


def test_an_agent_that_cannot_run_without_an_error_line_points_at_its_output(
    tmp_path: Path,
) -> None:
    agent = LocalAgent(AgentOptions("exec"), BROKER, tmp_path, print, print)

    agent._child._gave_up(EXIT_CANNOT_RUN)

    assert str(agent.failure) == (
        "the node agent cannot run: it exited with exit code 2 (see its output)"
    )


async def test_stopping_an_agent_never_started_removes_a_stale_trigger(tmp_path: Path) -> None:
    agent = LocalAgent(AgentOptions("sim"), BROKER, tmp_path, print, print)
    agent.trigger_path.parent.mkdir(parents=True)
    agent.trigger_path.write_text("left by an earlier run")

    await agent.stop()

    assert not agent.trigger_path.exists()
