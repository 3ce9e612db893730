"""`shoal manifests`: render the functions into Knative manifests, or check they are current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shoal.manifests import files
from shoal.manifests.render import default_image, render
from shoal.manifests.resources import Target
from shoal.runtime.discovery import discover
from shoal.runtime.errors import FunctionDefinitionError

DEFAULT_FUNCTIONS = Path("functions")
DEFAULT_OUTPUT = Path("manifests/base")


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
        "--check",
        action="store_true",
        help="write nothing; exit 1 and print a diff when the output folder is stale",
    )
    parser.set_defaults(run=run_manifests)


def run_manifests(args: argparse.Namespace) -> int:
    if not args.functions.is_dir():
        print(
            f"shoal manifests: no folder {args.functions}; run from the project root or pass "
            "--functions DIR",
            file=sys.stderr,
        )
        return 2
    try:
        specs = discover(args.functions)
        rendered = render(specs, Path.cwd(), Target(image=args.image or default_image()))
    except FunctionDefinitionError as error:
        print(f"shoal manifests: {error}", file=sys.stderr)
        return 1
    if args.check:
        stale = files.diff(rendered, args.output)
        if stale:
            sys.stdout.write(stale)
            print(
                f"shoal manifests: {args.output} is stale; run `shoal manifests`", file=sys.stderr
            )
            return 1
        return 0
    changed = files.write(rendered, args.output)
    names = ", ".join(spec.name for spec in specs) or "none"
    print(f"{len(specs)} function(s) ({names}) -> {args.output}: {len(changed)} file(s) changed")
    return 0
