"""`shoal manifests`: render the functions into Knative manifests, or check they are current.

`--agent NAME=URL` (repeatable) also renders the Triggers of the fleet's agents into
`manifests/agents/` (see `shoal.manifests.agents`); without it that folder is left alone.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal.manifests import files
from shoal.manifests.agents import AgentEndpoint, parse_agent, render_agents
from shoal.manifests.render import default_image, render
from shoal.manifests.resources import Target
from shoal.runtime.discovery import discover
from shoal.runtime.errors import FunctionDefinitionError

DEFAULT_FUNCTIONS = Path("functions")
DEFAULT_OUTPUT = Path("manifests/base")
DEFAULT_AGENTS_OUTPUT = Path("manifests/agents")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "manifests",
        help="render the functions into Knative manifests",
        description="Render every function in the functions folder into a kustomize base: "
        "a Knative Service per function, a Trigger per subscription, PingSources, the "
        "SinkBinding and the Broker. Run it from the project root.",
    )
    parser.add_argument("--functions", type=Path, default=DEFAULT_FUNCTIONS, metavar="DIR")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="DIR")
    parser.add_argument(
        "--image", default=None, help="the image all functions run from (default: this version's)"
    )
    parser.add_argument(
        "--agent",
        type=agent_option,
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a node agent the Broker delivers to at URL (repeatable: name every agent); "
        "writes its Trigger into --agents-output",
    )
    parser.add_argument("--agents-output", type=Path, default=DEFAULT_AGENTS_OUTPUT, metavar="DIR")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and print a diff when the output folder is stale",
    )
    parser.set_defaults(run=run_manifests)


def agent_option(text: str) -> AgentEndpoint:
    """argparse type for `--agent NAME=URL`."""
    try:
        return parse_agent(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_manifests(args: argparse.Namespace) -> int:
    if not args.functions.is_dir():
        print(
            f"shoal manifests: no folder {args.functions}; run from the project root or pass "
            "--functions DIR",
            file=sys.stderr,
        )
        return 2
    target = Target(image=args.image or default_image())
    try:
        specs = discover(args.functions)
        names = ", ".join(spec.name for spec in specs) or "none"
        functions = f"{len(specs)} function(s) ({names})"
        outputs = [_Output(args.output, render(specs, Path.cwd(), target), functions)]
        if args.agent:
            names = ", ".join(sorted(agent.name for agent in args.agent))
            rendered = render_agents(args.agent, target)
            agents = f"{len(args.agent)} agent(s) ({names})"
            outputs.append(_Output(args.agents_output, rendered, agents, " --agent NAME=URL ..."))
    except (FunctionDefinitionError, ValueError) as error:
        print(f"shoal manifests: {error}", file=sys.stderr)
        return 1
    if args.check:
        status = 0
        for output in outputs:
            stale = files.diff(output.rendered, output.folder)
            if stale:
                sys.stdout.write(stale)
                fix = f"run `shoal manifests{output.hint}`"
                print(f"shoal manifests: {output.folder} is stale; {fix}", file=sys.stderr)
                status = 1
        return status
    for output in outputs:
        changed = files.write(output.rendered, output.folder)
        print(f"{output.what} -> {output.folder}: {len(changed)} file(s) changed")
    return 0


@dataclass(frozen=True, slots=True)
class _Output:
    """A folder `shoal manifests` keeps in step: its rendered files, what they hold, and the
    options that render it (for the message when it is stale)."""

    folder: Path
    rendered: dict[str, str]
    what: str
    hint: str = ""
