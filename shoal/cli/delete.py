"""`shoal delete deployment NAME...`: ask the deployments function to stop every replica of each
and then forget the deployment (`dev.shoal.deployment.deleted`).

`shoal delete node NAME...`: tell the nodes function the node is gone for good
(`dev.shoal.node.removed`), as `kubectl delete node` does: its replicas are replaced at once,
not after the heartbeat grace, and it leaves `shoal get nodes`. An agent still running it
brings it back with its next heartbeat, as a kubelet re-registers its Node."""

from __future__ import annotations

import argparse
from typing import Any

from shoal import events
from shoal.cli.emit import add_check_option, emit, exists
from shoal.cli.options import DEPLOYMENT_WORDS, add_endpoint_options

NODE_WORDS = ("node", "nodes", "no")
REMOVED_BY_USER = "deleted with `shoal delete node`"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "delete",
        help="delete deployments or nodes",
        description="Send dev.shoal.deployment.deleted for each named deployment: its "
        "replicas stop, then it is gone (watch with `shoal get deployments`). Or send "
        "dev.shoal.node.removed for each named node that will not come back: its replicas are "
        "replaced elsewhere at once.",
    )
    parser.add_argument(
        "resource", choices=DEPLOYMENT_WORDS + NODE_WORDS, metavar="deployment|node"
    )
    parser.add_argument("names", nargs="+", metavar="NAME")
    add_check_option(parser)
    add_endpoint_options(parser, broker=True, api=True)
    parser.set_defaults(run=run_delete)


def run_delete(args: argparse.Namespace) -> int:
    if args.resource in NODE_WORDS:
        removals: dict[str, events.NodeRemoved] = {
            name: {"node": name, "reason": REMOVED_BY_USER} for name in dict.fromkeys(args.names)
        }
        return emit(
            "delete",
            args,
            removals,
            type_=events.NODE_REMOVED,
            done="deleted",
            existing=exists,
            kind="node",
        )
    requests: dict[str, events.DeploymentDeleted] = {
        name: {"deployment": name} for name in dict.fromkeys(args.names)
    }
    return emit(
        "delete", args, requests, type_=events.DEPLOYMENT_DELETED, done="deleted", existing=exists
    )
