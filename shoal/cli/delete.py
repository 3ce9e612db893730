"""`shoal delete deployment NAME...`: ask the deployments function to stop every replica of each
and then forget the deployment (`dev.shoal.deployment.deleted`)."""

from __future__ import annotations

import argparse
from typing import Any

from shoal import events
from shoal.cli.emit import add_check_option, emit, exists
from shoal.cli.options import DEPLOYMENT_WORDS, add_endpoint_options


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "delete",
        help="delete deployments",
        description="Send dev.shoal.deployment.deleted for each named deployment: its "
        "replicas stop, then it is gone (watch with `shoal get deployments`).",
    )
    parser.add_argument("resource", choices=DEPLOYMENT_WORDS, metavar="deployment")
    parser.add_argument("names", nargs="+", metavar="NAME")
    add_check_option(parser)
    add_endpoint_options(parser, broker=True, api=True)
    parser.set_defaults(run=run_delete)


def run_delete(args: argparse.Namespace) -> int:
    requests: dict[str, events.DeploymentDeleted] = {
        name: {"deployment": name} for name in dict.fromkeys(args.names)
    }
    return emit(
        "delete", args, requests, type_=events.DEPLOYMENT_DELETED, done="deleted", existing=exists
    )
