"""`shoal up`'s node-agent options: what they ask for, and what they refuse."""

from __future__ import annotations

import argparse

import pytest

from shoal.cli.main import build_parser
from shoal.cli.up_agent import add_agent_arguments, agent_options
from shoal.platform.agents import AgentOptions
from shoal.platform.plan import PlanError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_agent_arguments(parser)
    return parser.parse_args(argv)


def test_no_driver_means_no_agent() -> None:
    assert agent_options(parse()) is None


def test_a_sim_agent_of_three_nodes() -> None:
    options = agent_options(parse("--driver", "sim", "--nodes", "3", "--agent-cpu", "2000"))

    assert options == AgentOptions("sim", 3, 2000, None)
    assert options.node_names == ("sim-0", "sim-1", "sim-2")


def test_labels_are_parsed_as_the_agent_parses_them() -> None:
    options = agent_options(parse("--driver", "sim", "--labels", "zone=a,disk=ssd,empty="))

    assert options == AgentOptions("sim", labels={"zone": "a", "disk": "ssd", "empty": ""})


@pytest.mark.parametrize("text", ["zone", "=a", "zone=a,disk"])
def test_a_label_that_is_no_k_v_pair_is_refused_by_shoal_up_naming_it(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser("up").parse_args(["up", "--driver", "sim", "--labels", text])

    assert exited.value.code == 2
    wrong = text.rsplit(",", 1)[-1]
    assert (
        f"shoal up: error: argument --labels: expected K=V labels separated by commas, got "
        f"{wrong!r} in {text!r}\n"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "3"], "need --driver"),
        (["--agent-memory", "512"], "need --driver"),
        (["--labels", "zone=a"], "--labels need --driver"),
        (["--driver", "exec", "--nodes", "2"], "more than 1 only with --driver sim"),
        (["--driver", "sim", "--nodes", "0"], "--nodes 0"),
        (["--driver", "sim", "--agent-cpu", "-1"], "--agent-cpu -1: must not be negative"),
    ],
)
def test_options_an_agent_cannot_run_with_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        agent_options(parse(*argv))
