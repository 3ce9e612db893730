"""Sending one user event per deployment, as `shoal apply`, `delete`, `scale` and `rollout undo`
do."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from shoal.cli.client import cli_event, post_event
from shoal.cli.errors import CliError
from shoal.cli.options import broker_endpoint


def emit(
    command: str,
    args: argparse.Namespace,
    requests: Mapping[str, Mapping[str, object]],
    *,
    type_: str,
    done: str,
) -> int:
    """Post a `type_` event per deployment name in `requests` (name -> data), printing
    `deployment/<name> <done>` as each is accepted; stop at the first failure."""
    try:
        broker = broker_endpoint(args)
        for name, data in requests.items():
            post_event(broker, cli_event(type_, name, data))
            print(f"deployment/{name} {done}", flush=True)
    except CliError as error:
        print(f"shoal {command}: {error}", file=sys.stderr)
        return 1
    return 0
