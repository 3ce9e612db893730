"""Waiting for a rollout, as `kubectl rollout status` does: `shoal rollout status` and
`shoal apply --wait`.

The API's view of a deployment says everything needed: its current `revision` (the pod
template's hash), its `state` (progressing, complete, stalled, deleting) and the counts. A
rollout is done when the deployment is `complete` on the revision waited for. Right after
`shoal apply` the deployments function may not have taken the new document yet, so `apply
--wait` waits for the revision its own document hashes to (`template_hash`, as the function
computes it), not for whatever rollout the API shows first. A stalled rollout (past its
`progressDeadlineSeconds`) is a failure, as kubectl reports "exceeded its progress deadline".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shoal.cli.client import get_json
from shoal.cli.endpoints import Endpoint
from shoal.cli.errors import CliError, NotFound
from shoal.cli.options import api_endpoint, count

POLL_SECONDS = 1.0
DEFAULT_TIMEOUT_SECONDS = 600  # a Deployment's default progressDeadlineSeconds

Outcome = Literal["done", "waiting", "failed"]


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    message: str


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=count,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"give up after this long (default {DEFAULT_TIMEOUT_SECONDS}; 0: wait forever)",
    )


def verdict(name: str, view: Mapping[str, Any] | None, revision: str | None) -> Verdict:
    """Where the rollout of deployment `name` stands, from the API's view of it (None: not
    found), waiting for `revision` (None: whatever revision is current)."""
    if view is None:
        if revision is None:
            return Verdict("failed", f"deployment {name!r} not found")
        return Verdict("waiting", f'Waiting for deployment "{name}" to be stored...')
    if revision is not None and view["revision"] != revision:
        return Verdict(
            "waiting",
            f'Waiting for deployment "{name}" to take revision {revision} '
            f"(it runs {view['revision']})...",
        )
    state = view["state"]
    if state == "complete":
        return Verdict("done", f'deployment "{name}" successfully rolled out')
    if state == "stalled":
        return Verdict(
            "failed",
            f'deployment "{name}" exceeded its progress deadline ({view["updated"]} of '
            f"{view['replicas']} updated, {view['available']} available)",
        )
    if state == "deleting":
        return Verdict("failed", f'deployment "{name}" is being deleted')
    return Verdict("waiting", _progress(name, view))


def _progress(name: str, view: Mapping[str, Any]) -> str:
    """kubectl's wording for a rollout under way."""
    wanted, updated, available = view["replicas"], view["updated"], view["available"]
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < wanted:
        return f"{waiting}{updated} out of {wanted} new replicas have been updated..."
    if available < updated:
        return f"{waiting}{available} of {updated} updated replicas are available..."
    return f"{waiting}old replicas are pending termination..."


def wait_for_rollout(
    api: Endpoint,
    name: str,
    revision: str | None,
    timeout: float,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll the API until the rollout is done, saying each new progress line; CliError when
    it fails or `timeout` seconds pass (0: wait as long as it takes)."""
    deadline = clock() + timeout if timeout > 0 else None
    said = ""
    while True:
        try:
            view: Mapping[str, Any] | None = json.loads(get_json(api, f"deployments/{name}", {}))
        except NotFound:
            view = None
        current = verdict(name, view, revision)
        if current.outcome == "failed":
            raise CliError(current.message)
        if current.message != said:
            say(current.message)
            said = current.message
        if current.outcome == "done":
            return
        if deadline is not None and clock() >= deadline:
            raise CliError(f"timed out after {timeout:g} s waiting for deployment {name!r}")
        sleep(POLL_SECONDS)


def wait_for_rollouts(
    command: str, args: argparse.Namespace, rollouts: Sequence[tuple[str, str | None]]
) -> int:
    """`wait_for_rollout` for each (deployment, revision) in turn, as `shoal <command>` with
    `args` (`--api`, `--timeout`): 0 once all are done, 1 saying why one is not."""
    try:
        for name, revision in rollouts:
            wait_for_rollout(api_endpoint(args), name, revision, args.timeout)
    except CliError as error:
        print(f"shoal {command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
