"""`shoal scale deployment NAME --replicas N`: set a deployment's desired replica count
(`dev.shoal.deployment.scaled`), as `kubectl scale` does."""

from __future__ import annotations

import argparse
from typing import Any

from shoal import events
from shoal.cli.emit import add_check_option, emit, exists
from shoal.cli.options import DEPLOYMENT_WORDS, add_endpoint_options, count

DEFAULT_REASON = "shoal scale"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "scale",
        help="set a deployment's replica count",
        description="Send dev.shoal.deployment.scaled: the deployment's desired replica count "
        "(and spec.replicas of its stored document) becomes N.",
    )
    parser.add_argument("resource", choices=DEPLOYMENT_WORDS, metavar="deployment")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--replicas", type=count, required=True, metavar="N")
    parser.add_argument(
        "--reason", default=DEFAULT_REASON, help="why, for the event log (default: %(default)s)"
    )
    add_check_option(parser)
    add_endpoint_options(parser, broker=True, api=True)
    parser.set_defaults(run=run_scale)


def run_scale(args: argparse.Namespace) -> int:
    data: events.DeploymentScaled = {
        "deployment": args.name,
        "replicas": args.replicas,
        "reason": args.reason,
    }
    return emit(
        "scale",
        args,
        {args.name: data},
        type_=events.DEPLOYMENT_SCALED,
        done="scaled",
        existing=exists,
    )
