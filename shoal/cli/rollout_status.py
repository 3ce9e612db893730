"""Waiting for a rollout, as `kubectl rollout status` does: `shoal rollout status` and
`shoal apply --wait`.

The API's view of a deployment says everything needed: its current `revision` (the pod
template's hash), its `state` (progressing, complete, stalled, deleting) and the counts. A
rollout is done when the deployment is `complete` on the revision waited for. Right after
`shoal apply` the deployments function may not have taken the new document yet, so `apply
--wait` waits for the revision its own document hashes to (`template_hash`, as the function
computes it), not for whatever rollout the API shows first. A stalled rollout (past its
`progressDeadlineSeconds`) is a failure, as kubectl reports "exceeded its progress deadline".

While it waits, it also says why replicas are not available when the API says so: the `reason`
of each replica (`shoal get replicas -o wide`'s REASON column) in a phase it explains now. Each
distinct reason is said once, not at every poll.
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
# The phases whose `reason` says why the replica is not available now; a replica restarted
# (scheduled, running) or being stopped keeps the reason of its last exit.
EXPLAINED_PHASES = ("unschedulable", "exited", "lost")

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


def replica_problems(replicas: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """Why replicas (as the API lists them) are not available: a line for each distinct
    (phase, reason), naming the first replica with it and how many more share it."""
    named: dict[tuple[str, str], list[str]] = {}
    for replica in replicas:
        if replica["phase"] in EXPLAINED_PHASES and replica.get("reason"):
            named.setdefault((replica["phase"], replica["reason"]), []).append(replica["name"])
    return {
        (phase, reason): f"  replica {names[0]}{_more(len(names) - 1)} {phase}: {reason}"
        for (phase, reason), names in named.items()
    }


def _more(count: int) -> str:
    return f" (and {count} more)" if count else ""


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
    explained: set[tuple[str, str]] = set()
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
        if view is not None:
            replicas = json.loads(get_json(api, "replicas", {"deployment": name}))["items"]
            for problem, line in replica_problems(replicas).items():
                if problem not in explained:
                    say(line)
                    explained.add(problem)
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
