"""`shoal`: the command line. Each subcommand lives in its own module under `shoal.cli`.

A subcommand module exposes `register(subparsers)`, which adds its parser and sets `run`
(a callable taking the parsed namespace and returning the exit status) as a default.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

SUBCOMMAND_MODULES = (
    "broker",
    "send",
    "events",
    "cesql",
    "manifests",
    "up",
    "agent",
    "apply",
    "get",
    "delete",
    "scale",
    "rollout",
    "config",
    "deploy",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoal",
        description="Shoal: an event-driven container orchestrator of CloudEvents functions.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"shoal.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = cast(Callable[[argparse.Namespace], int], args.run)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
