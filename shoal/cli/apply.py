"""`shoal apply -f FILE|DIR|-`: send Deployment documents to the deployments function.

Every document is read and validated first, with the same parser the deployments function
uses; one problem anywhere prints every problem and sends nothing. Then each Deployment goes
to the broker as `dev.shoal.deployment.applied` (data `{"manifest": <document>}`, subject the
name, source `/shoal/cli`), in the order read.

Each event gets a fresh id, reused when the CLI retries its POST (so the broker drops the
copy). The id is deliberately not derived from the document alone: the deployments function
remembers every (source, id) it handled and skips repeats for good, so re-applying an earlier
document (a revert), or re-creating a deleted deployment from the same file, would be ignored.
Applying the same document twice is harmless: the second changes nothing.

`--wait` then waits, deployment by deployment, until each has rolled out the revision its
document hashes to (`shoal.cli.rollout_status`), like `kubectl apply` + `kubectl rollout
status`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shoal import events
from shoal.cli.documents import check, read_documents
from shoal.cli.emit import emit
from shoal.cli.options import add_endpoint_options
from shoal.cli.rollout_status import add_timeout_option, wait_for_rollouts
from shoal.orchestration.spec import parse_deployment, template_hash


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "apply",
        help="create or update deployments from YAML",
        description="Validate Deployment documents (YAML, several per file, folders "
        "recursively) and send each to the broker as dev.shoal.deployment.applied.",
    )
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE|DIR|-",
        help="a YAML file, a folder of them, or - for stdin (repeatable)",
    )
    parser.add_argument("--dry-run", action="store_true", help="validate only; send nothing")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="then wait until each deployment has rolled out its new revision "
        "(as `shoal rollout status`)",
    )
    add_timeout_option(parser)
    add_endpoint_options(parser, broker=True, api=True)
    parser.set_defaults(run=run_apply)


def run_apply(args: argparse.Namespace) -> int:
    documents, problems = read_documents(args.filename)
    checked = check(documents)
    problems += checked.problems
    if not problems and not checked.deployments:
        problems.append(f"no documents in {', '.join(args.filename)}")
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"shoal apply: {len(problems)} problem(s); nothing was sent", file=sys.stderr)
        return 1
    if args.dry_run:
        for name, _ in checked.deployments:
            print(f"deployment/{name} valid (dry run)")
        return 0
    requests = {name: {"manifest": manifest} for name, manifest in checked.deployments}
    sent = emit("apply", args, requests, type_=events.DEPLOYMENT_APPLIED, done="applied")
    if sent != 0 or not args.wait:
        return sent
    rollouts = [
        (name, template_hash(parse_deployment(manifest))) for name, manifest in checked.deployments
    ]
    return wait_for_rollouts("apply", args, rollouts)
