"""`shoal up`'s node-agent options (`--driver`, `--nodes`, `--agent-cpu`, `--agent-memory`,
`--labels`), read into `shoal.platform.agents.AgentOptions`."""

from __future__ import annotations

import argparse

from shoal.cli.options import labels
from shoal.platform.agents import UP_DRIVERS, AgentOptions
from shoal.platform.plan import PlanError

__all__ = ["add_agent_arguments", "agent_options"]


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("node agent (none without --driver)")
    group.add_argument(
        "--driver",
        choices=UP_DRIVERS,
        help="also run a node agent with this driver (sim: simulated nodes, exec: processes, "
        "docker: containers)",
    )
    group.add_argument(
        "--nodes", type=int, default=1, help="simulated nodes (--driver sim; default 1)"
    )
    group.add_argument(
        "--agent-cpu", type=int, metavar="MILLICORES", help="each node's cpu (default: machine's)"
    )
    group.add_argument(
        "--agent-memory", type=int, metavar="MiB", help="each node's memory (default: machine's)"
    )
    group.add_argument(
        "--labels",
        type=labels,
        default={},
        metavar="K=V,...",
        help="each node's labels, which a Deployment's constraints.nodeSelector matches "
        "(as `shoal agent --labels`)",
    )


def agent_options(args: argparse.Namespace) -> AgentOptions | None:
    """The agent the options ask for; None without --driver. PlanError for bad options."""
    if args.driver is None:
        if (
            args.nodes != 1
            or args.agent_cpu is not None
            or args.agent_memory is not None
            or args.labels
        ):
            raise PlanError(
                "--nodes, --agent-cpu, --agent-memory and --labels need --driver "
                "(sim, exec or docker)"
            )
        return None
    return AgentOptions(args.driver, args.nodes, args.agent_cpu, args.agent_memory, args.labels)
