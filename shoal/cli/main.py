"""`shoal`: the command line. Each subcommand lives in its own module under `shoal.cli`.

A subcommand module exposes `register(subparsers)`, which adds its parser and sets `run`
(a callable taking the parsed namespace and returning the exit status) as a default.
Only the module of the subcommand being run is imported (all of them for `--help` or a typo):
some pull in the broker or the runtime, and `shoal get` should not wait for those.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

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
    "logs",
    "delete",
    "scale",
    "rollout",
    "config",
    "deploy",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or with just `only` when that names one."""
    parser = argparse.ArgumentParser(
        prog="shoal",
        description="Shoal: an event-driven container orchestrator of CloudEvents functions.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = (only,) if only in SUBCOMMAND_MODULES else SUBCOMMAND_MODULES
    for name in names:
        module = importlib.import_module(f"shoal.cli.{name}")
        module.register(subparsers)
    return parser


class _Version(argparse.Action):
    """`--version`, looked up only when asked (the lookup reads the installed metadata)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        try:
            version = importlib.metadata.version("shoal")
        except importlib.metadata.PackageNotFoundError:  # a checkout never installed
            version = "(not installed)"
        print(f"shoal {version}")  # on stdout, as argparse's own version action
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    run = cast(Callable[[argparse.Namespace], int], args.run)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
