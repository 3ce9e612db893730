"""`shoal rollout undo deployment NAME [--to-revision N]`: go back to an earlier revision's pod
template (`dev.shoal.deployment.rollback`), as `kubectl rollout undo` does;
`shoal rollout status deployment NAME`: wait until the rollout is done (`rollout_status`); and
`shoal rollout history deployment NAME`: the revisions to choose from (read from the API)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shoal import events
from shoal.cli.client import get_json
from shoal.cli.emit import add_check_option, emit
from shoal.cli.errors import CliError
from shoal.cli.options import DEPLOYMENT_WORDS, add_endpoint_options, api_endpoint, count
from shoal.cli.rollout_status import add_timeout_option, wait_for_rollouts
from shoal.cli.tables import age, format_table


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rollout", help="roll a deployment back, or list its revisions"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    undo = actions.add_parser(
        "undo",
        help="roll back to an earlier revision",
        description="Send dev.shoal.deployment.rollback: revision N's pod template (default: "
        "the revision before the current one) becomes the current template and rolls out.",
    )
    undo.add_argument("resource", choices=DEPLOYMENT_WORDS, metavar="deployment")
    undo.add_argument("name", metavar="NAME")
    undo.add_argument(
        "--to-revision", type=count, default=0, metavar="N", help="0 (default): the previous one"
    )
    add_check_option(undo)
    add_endpoint_options(undo, broker=True, api=True)
    undo.set_defaults(run=run_undo)
    status = actions.add_parser(
        "status",
        help="wait until a deployment's rollout is done",
        description="Print the rollout's progress until the deployment is complete on its "
        "current revision (exit 0), its rollout stalls past its progress deadline or the "
        "timeout passes (exit 1).",
    )
    status.add_argument("resource", choices=DEPLOYMENT_WORDS, metavar="deployment")
    status.add_argument("name", metavar="NAME")
    add_timeout_option(status)
    add_endpoint_options(status, api=True)
    status.set_defaults(run=run_status)
    history = actions.add_parser("history", help="list a deployment's revisions")
    history.add_argument("resource", choices=DEPLOYMENT_WORDS, metavar="deployment")
    history.add_argument("name", metavar="NAME")
    add_endpoint_options(history, api=True)
    history.set_defaults(run=run_history)


def run_undo(args: argparse.Namespace) -> int:
    data: events.DeploymentRollback = {"deployment": args.name}
    if args.to_revision:
        data["revision"] = args.to_revision
    return emit(
        "rollout undo",
        args,
        {args.name: data},
        type_=events.DEPLOYMENT_ROLLBACK,
        done="rolled back",
        existing=lambda deployment: revision_problem(deployment, args.to_revision),
    )


def revision_problem(deployment: Mapping[str, Any], to_revision: int) -> str | None:
    """Why the deployment cannot go back to `to_revision` (0: the one before), or None."""
    name, numbers = deployment["name"], [r["number"] for r in deployment["revisions"]]
    history = f"`shoal rollout history deployment {name}` lists them"
    if to_revision == 0 and len(numbers) < 2:
        return f"deployment {name} has no revision before the current one; {history}"
    if to_revision and to_revision not in numbers:
        return f"deployment {name} has no revision {to_revision}; {history}"
    return None


def run_status(args: argparse.Namespace) -> int:
    return wait_for_rollouts("rollout status", args, [(args.name, None)])


def run_history(args: argparse.Namespace) -> int:
    try:
        deployment = json.loads(get_json(api_endpoint(args), f"deployments/{args.name}", {}))
    except CliError as error:
        print(f"shoal rollout history: {error}", file=sys.stderr)
        return 1
    now = datetime.now(UTC)
    rows = [
        [
            str(revision["number"]),
            revision["revision"],
            "*" if revision["revision"] == deployment["revision"] else "",
            revision.get("image") or "<none>",
            age(revision.get("created_at"), now),
        ]
        for revision in deployment["revisions"]
    ]
    headers = ["REVISION", "HASH", "CURRENT", "IMAGE", "AGE"]
    sys.stdout.write(format_table(headers, rows))
    return 0
