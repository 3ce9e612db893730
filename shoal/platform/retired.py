"""The nodes of `shoal up`'s earlier agents that this run does not start: removed.

`shoal up` keeps each driver's agent in a folder of its own, `<data dir>/agents/<agent>` (sim,
local, docker), which records the nodes that agent served. When a run starts another driver's
agent, or none, the nodes of the others would stay Ready with nobody to heartbeat them: while
they are at least half of all nodes the liveness judge suspects itself rather than them and
waits (`shoal.orchestration.nodes`), and the scheduler keeps placing replicas there. So
`shoal up` removes them, as `kubectl delete node` would: one `node.removed` each, posted to its
broker before its own agent starts, and the folder's record of nodes cleared so they are
removed once. An agent started in that folder again later joins its nodes anew.

An agent folder another process holds (an agent started by hand on it) is left alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import aiohttp

from local_broker.exclusive import ExclusiveLock, LockHeld
from shoal.agent.reports import Reporter
from shoal.agent.store import AssignmentStore

__all__ = ["AGENTS_FOLDER", "remove_retired_nodes"]

AGENTS_FOLDER = "agents"
STRUCTURED = "application/cloudevents+json"  # CloudEvents HTTP binding 1.0.2, 3.1.2


async def remove_retired_nodes(
    data_dir: Path, running: str | None, ingress: str, say: Callable[[str], None]
) -> list[str]:
    """Remove the nodes every agent folder but `running`'s recorded, saying so; their names.
    A folder whose nodes cannot be removed (the broker refuses, the store cannot be read) is
    reported and keeps its record, so the next `shoal up` tries again."""
    removed: list[str] = []
    for store_path in sorted((data_dir / AGENTS_FOLDER).glob("*/assignments.sqlite3")):
        agent = store_path.parent.name
        if agent == running:
            continue  # the agent itself says which of its nodes it no longer runs
        try:
            nodes = await _retire(store_path, agent, ingress)
        except (OSError, sqlite3.Error, aiohttp.ClientError) as error:
            say(
                f"warning: could not remove the nodes of agent {agent}, which does not run now: "
                f"{error}; `shoal delete node NAME` removes one by hand"
            )
            continue
        if nodes:
            say(f"removed  node(s) {', '.join(nodes)}: agent {agent} does not run now")
        removed += nodes
    return sorted(removed)


async def _retire(store_path: Path, agent: str, ingress: str) -> list[str]:
    """The nodes of the agent folder of `store_path`, removed; none when its agent runs."""
    try:
        lock = ExclusiveLock.acquire(store_path.parent / "agent.lock")
    except LockHeld:
        return []
    try:
        store = AssignmentStore(store_path)
        try:
            nodes = sorted(store.served_nodes())
            reason = f"shoal up does not run agent {agent} now"
            await _post(ingress, [Reporter().removed(node, reason) for node in nodes])
            store.record_nodes([])
            return nodes
        finally:
            store.close()
    finally:
        lock.release()


async def _post(ingress: str, events: list[dict[str, object]]) -> None:
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        for event in events:
            headers = {"Content-Type": STRUCTURED}
            async with session.post(ingress, json=event, headers=headers):
                pass
