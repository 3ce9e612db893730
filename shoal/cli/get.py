"""`shoal get`: read deployments, replicas and nodes from the API function (functions/api.py).

The same command reads a local platform and a Knative one: it only ever GETs the API. `-o json`
prints the API's JSON unchanged (its schema is documented in docs/cli.md and stable); the
tables are for people and may gain columns.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from shoal.cli.client import get_json
from shoal.cli.errors import CliError
from shoal.cli.options import add_endpoint_options, api_endpoint
from shoal.cli.tables import table

RESOURCES = {
    "deployments": "deployments",
    "deployment": "deployments",
    "deploy": "deployments",
    "replicas": "replicas",
    "replica": "replicas",
    "nodes": "nodes",
    "node": "nodes",
    "no": "nodes",
}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "get",
        help="list deployments, replicas or nodes",
        description="Read deployments, replicas or nodes from the API function, as a table or "
        "as the API's JSON.",
    )
    parser.add_argument("resource", choices=RESOURCES, metavar="deployments|replicas|nodes")
    parser.add_argument("name", nargs="?", help="one resource by name (default: all)")
    parser.add_argument(
        "-o",
        "--output",
        choices=("json", "wide"),
        help="json: the API's JSON unchanged; wide: a table with more columns",
    )
    parser.add_argument("--deployment", metavar="NAME", help="replicas of this deployment only")
    parser.add_argument("--node", metavar="NAME", help="replicas on this node only")
    add_endpoint_options(parser, api=True)
    parser.set_defaults(run=run_get)


def run_get(args: argparse.Namespace) -> int:
    resource = RESOURCES[args.resource]
    filters = {key: value for key in ("deployment", "node") if (value := getattr(args, key))}
    if filters and resource != "replicas":
        print("shoal get: --deployment and --node select replicas only", file=sys.stderr)
        return 2
    if filters and args.name:
        print("shoal get: give a replica NAME or --deployment/--node, not both", file=sys.stderr)
        return 2
    path = f"{resource}/{args.name}" if args.name else resource
    try:
        body = get_json(api_endpoint(args), path, filters)
    except CliError as error:
        print(f"shoal get: {error}", file=sys.stderr)
        return 1
    if args.output == "json":
        sys.stdout.write(body.decode("utf-8"))
        return 0
    answer = json.loads(body)
    items = [answer] if args.name else answer["items"]
    if not items:
        print("No resources found.", file=sys.stderr)
        return 0
    now = datetime.now(UTC)
    sys.stdout.write(table(resource, items, now, wide=args.output == "wide"))
    return 0
