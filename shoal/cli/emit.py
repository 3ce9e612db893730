"""Sending one user event per deployment (or node), as `shoal apply`, `delete`, `scale` and
`rollout undo` do.

Commands that act on an existing deployment or node ask the API first, as kubectl's answer
comes from the API server: a name it does not know is reported (`deployment 'web' not found`),
nothing is sent for it, and the command exits 1 after sending the others. The events
themselves are handled later by the deployments (or nodes) function, so this is a courtesy
check, not a guarantee (a deployment applied a moment ago may not be stored yet: `--no-check`
sends without asking). When the API cannot be reached the event is sent anyway, with a
warning.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from shoal.cli.client import cli_event, get_json, post_event
from shoal.cli.errors import CliError, NotFound
from shoal.cli.options import api_endpoint, broker_endpoint

Check = Callable[[Mapping[str, Any]], str | None]
"""A problem with the deployment as the API returns it (e.g. no such revision), or None."""


def add_check_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="send without asking the API whether the deployment exists",
    )


def emit(
    command: str,
    args: argparse.Namespace,
    requests: Mapping[str, Mapping[str, object]],
    *,
    type_: str,
    done: str,
    existing: Check | None = None,
    kind: str = "deployment",
) -> int:
    """Post a `type_` event per `kind` name in `requests` (name -> data), printing
    `<kind>/<name> <done>` as each is accepted; stop at the first failure to send.
    With `existing`, each one is first read from the API (unless `--no-check`), and one that
    is missing or that `existing` finds a problem with is reported instead."""
    refused = False
    try:
        broker = broker_endpoint(args)
        for name, data in requests.items():
            if existing is not None and args.check:
                problem = _problem(command, args, kind, name, existing)
                if problem is not None:
                    print(f"shoal {command}: {problem}", file=sys.stderr)
                    refused = True
                    continue
            post_event(broker, cli_event(type_, name, data))
            print(f"{kind}/{name} {done}", flush=True)
    except CliError as error:
        print(f"shoal {command}: {error}", file=sys.stderr)
        return 1
    return 1 if refused else 0


def _problem(
    command: str, args: argparse.Namespace, kind: str, name: str, check: Check
) -> str | None:
    try:
        found = json.loads(get_json(api_endpoint(args), f"{kind}s/{name}", {}))
    except NotFound:
        return f"{kind} {name!r} not found (`shoal get {kind}s` lists them)"
    except CliError as error:  # no API to ask: the function the event is for will judge
        print(
            f"shoal {command}: warning: could not check that {kind}/{name} exists "
            f"({error}); sending anyway",
            file=sys.stderr,
        )
        return None
    return check(found)


def exists(_found: Mapping[str, Any]) -> str | None:
    """Anything the API knows will do."""
    return None
