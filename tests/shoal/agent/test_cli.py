"""`shoal agent`'s options, turned into settings at the edge."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from local_broker.exclusive import ExclusiveLock
from shoal.agent.errors import EXIT_CANNOT_RUN
from shoal.agent.settings import AgentSettings
from shoal.cli.agent import host_port, machine_capacity, settings_from
from shoal.cli.main import build_parser, main
from shoal.orchestration.spec import Resources


def parsed(*args: str) -> AgentSettings:
    return settings_from(build_parser().parse_args(["agent", "--name", "n1", *args]))


def test_defaults() -> None:
    settings = parsed("--broker", "http://127.0.0.1:9999/default/default")
    assert settings.driver == "exec"
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 0)
    assert settings.capacity == machine_capacity()
    assert settings.node_names == ("n1",)
    assert settings.state_dir == Path(".shoal/agents/n1")
    assert settings.heartbeat_interval == 1.0
    assert not settings.batching


def test_a_sim_agent() -> None:
    settings = parsed(
        "--driver", "sim",
        "--nodes", "3",
        "--cpu", "2000",
        "--memory", "4096",
        "--labels", "zone=a,disk=ssd",
        "--start-delay", "0.5",
        "--exit-probability", "0.01",
        "--seed", "7",
        "--heartbeat-interval", "0.5",
        "--data-dir", "/tmp/sim",
        "--write-trigger", "manifests/agents",
    )  # fmt: skip
    assert settings.node_names == ("n1-0", "n1-1", "n1-2")
    assert settings.capacity == Resources(2000, 4096)
    assert dict(settings.labels) == {"zone": "a", "disk": "ssd"}
    assert (settings.sim.start_delay, settings.sim.exit_probability, settings.sim.seed) == (
        0.5,
        0.01,
        7,
    )
    assert settings.state_dir == Path("/tmp/sim")
    assert settings.write_trigger == Path("manifests/agents")
    assert settings.batching
    assert not parsed("--driver", "sim", "--no-batch").batching


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9000", ("127.0.0.1", 9000)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:9000", ("::1", 9000)),
        (":9000", ("127.0.0.1", 9000)),
    ],
)
def test_listen(text: str, expected: tuple[str, int]) -> None:
    assert host_port(text) == expected


@pytest.mark.parametrize("text", ["9000", "host:", "host:http", "host:70000"])
def test_listen_refuses_what_is_no_host_and_port(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="HOST:PORT"):
        host_port(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "Node_1"], "must be DNS labels"),
        (["--name", "n1", "--nodes", "3"], "above 1 only with --driver sim"),
        (
            ["--name", "n1", "--heartbeat-interval", "0"],
            "--heartbeat-interval 0.0: must be above 0",
        ),
        (["--name", "n1", "--broker", "127.0.0.1:8080"], "must be an http:// or https:// URL"),
        (["--name", "n1", "--driver", "sim", "--exit-probability", "2"], "exit_probability"),
        (["--name", "n1", "--driver", "docker", "--nodes", "2"], "above 1 only with --driver sim"),
    ],
)
def test_bad_settings_exit_with_2_and_say_why(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agent", "--data-dir", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_no_docker_engine_exits_with_cannot_run_saying_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")

    code = main(["agent", "--data-dir", str(tmp_path), "--name", "n1", "--driver", "docker"])

    assert code == EXIT_CANNOT_RUN  # a restart would fail the same way: shoal up stops
    err = capsys.readouterr().err
    assert err.startswith("shoal agent: no Docker engine answers (")
    assert err.endswith(
        "; set DOCKER_HOST (for example unix:///var/run/docker.sock, or the socket "
        "scripts/docker-engine.sh prints)\n"
    )


def test_a_second_agent_on_one_state_folder_exits_1_naming_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ExclusiveLock.acquire(tmp_path / "agent.lock")  # as a running agent holds it
    try:
        code = main(["agent", "--data-dir", str(tmp_path), "--name", "n1", "--driver", "sim"])
    finally:
        first.release()

    assert code == 1
    assert capsys.readouterr().err == (
        f"shoal agent: another agent (process {os.getpid()}) runs on {tmp_path}: "
        "stop it, or give this one another --name or --data-dir\n"
    )
