"""`shoal logs REPLICA [--tail N] [--follow]`: what a replica printed, from its node's agent.

The API says which node the replica is on and where that node's agent serves (the URL of its
last `node.joined`); the agent answers with the replica's last lines, stdout and stderr
together (`GET /replicas/<name>/log`). A replica's output lives with it on its node: a restart
starts it afresh, and a stopped replica's is gone (the reason of its last exit keeps its last
lines: `shoal get replicas NAME -o json`).
"""

from __future__ import annotations

import argparse
import codecs
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from shoal.cli.client import TIMEOUT_SECONDS, error_message, get_json
from shoal.cli.endpoints import Endpoint
from shoal.cli.errors import CliError, NotFound, RequestError
from shoal.cli.options import add_endpoint_options, api_endpoint, count

DEFAULT_TAIL = 100
MAX_TAIL = 10_000  # the agent's limit
READ_SIZE = 1 << 16


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "logs",
        help="print what a replica printed",
        description="Print the last lines a replica printed (stdout and stderr), read from "
        "the agent of its node.",
    )
    parser.add_argument("replica", metavar="REPLICA", help="a replica's name (shoal get replicas)")
    parser.add_argument(
        "--tail",
        type=count,
        default=DEFAULT_TAIL,
        metavar="N",
        help=f"how many of the last lines (default {DEFAULT_TAIL}, at most {MAX_TAIL:,})",
    )
    parser.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="go on printing what it prints, until it exits or is stopped (or Ctrl-C)",
    )
    add_endpoint_options(parser, api=True)
    parser.set_defaults(run=run_logs)


def run_logs(args: argparse.Namespace) -> int:
    try:
        for piece in replica_output(api_endpoint(args), args.replica, args.tail, args.follow):
            sys.stdout.write(piece)
            sys.stdout.flush()
    except CliError as error:
        print(f"shoal logs: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def replica_output(api: Endpoint, name: str, tail: int, follow: bool = False) -> Iterator[str]:
    """The replica's last `tail` lines, from the agent of its node, and with `follow` what
    it prints next, piece by piece; CliError saying why not."""
    try:
        replica = json.loads(get_json(api, f"replicas/{name}", {}))
    except NotFound as error:
        raise NotFound(f"{error}{_deployment_hint(api, name)}") from None
    node = replica.get("node")
    if not node:
        raise CliError(f"replica {name} is {replica.get('phase')} on no node: it printed nothing")
    agent_url = json.loads(get_json(api, f"nodes/{node}", {})).get("agent_url")
    if not agent_url:
        raise CliError(
            f"node {node}'s agent did not say where it serves (an agent older than `shoal "
            "logs`): restart it, and it says so when it joins"
        )
    query = {"lines": str(min(tail, MAX_TAIL))} | ({"follow": "1"} if follow else {})
    url = f"{agent_url.rstrip('/')}/replicas/{urllib.parse.quote(name)}/log"
    url += f"?{urllib.parse.urlencode(query)}"
    # Following waits as long as the replica is quiet: no timeout on reads then.
    timeout = None if follow else TIMEOUT_SECONDS
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            while piece := response.read1(READ_SIZE):
                yield decoder.decode(piece)
            yield decoder.decode(b"", final=True)
    except urllib.error.HTTPError as error:
        message = error_message(error.read(), f"{error.code} {error.reason}")
        raise RequestError(f"node {node}'s agent: {message}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RequestError(f"cannot reach node {node}'s agent at {agent_url}: {reason}") from None


def _deployment_hint(api: Endpoint, name: str) -> str:
    """When `name` is a deployment's: its replicas, to pick one from."""
    try:
        listed = json.loads(get_json(api, "replicas", {"deployment": name}))["items"]
    except (CliError, ValueError, KeyError, TypeError):
        return ""
    names = [str(item["name"]) for item in listed]
    if not names:
        return ""
    return f"; {name} is a deployment: name one of its replicas ({', '.join(names)})"
