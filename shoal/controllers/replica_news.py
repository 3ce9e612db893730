"""The deployments function's handling of replica news: started, ready, unready, exited,
stopped, lost.

An event lists many replicas (`shoal.events`), possibly of several deployments; all of it is
handled in the invocation's one transaction, one deployment at a time: each replica's news is
recorded, then one decision per deployment: a whole reconcile when
`reconcile.step_on_replica_event` says so (so a 10,000-replica deployment does not re-read
10,000 records for each event), otherwise replacements for the replicas that are gone without
being asked (lost, or stopped unasked), at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from shoal import events
from shoal.controllers.deployment_step import (
    Invocation,
    ask_to_stop,
    create_replicas,
    request,
    step,
)
from shoal.controllers.records import entries, load_deployment, load_replica, save_replica
from shoal.model import REPLICA, ReplicaRecord
from shoal.orchestration.batches import grouped
from shoal.orchestration.reconcile import step_on_replica_event
from shoal.orchestration.rollout import restart_delay

__all__ = ["REPLICA_NEWS", "on_replica_news"]

REPLICA_NEWS = (
    events.REPLICA_STARTED,
    events.REPLICA_READY,
    events.REPLICA_UNREADY,
    events.REPLICA_EXITED,
    events.REPLICA_STOPPED,
    events.REPLICA_LOST,
)
GONE = (events.REPLICA_STOPPED, events.REPLICA_LOST)
READINESS_NEWS = (events.REPLICA_READY, events.REPLICA_UNREADY)
RUNNING_NEWS = (events.REPLICA_STARTED, events.REPLICA_EXITED, *READINESS_NEWS)
# Readiness news of the replica's current run: a `ready` that overtook its `started` says it
# runs; one that finds the replica exited is from the run before (the next run is `scheduled`
# again before its agent can start it).
_PROBED_PHASES = frozenset({"scheduled", "running"})


def on_replica_news(inv: Invocation) -> None:
    listed = entries(inv.event.data_object())
    for deployment, news in grouped(listed, lambda entry: str(entry["deployment"])).items():
        deployment_news(inv, deployment, news)


def deployment_news(inv: Invocation, deployment: str, news: Sequence[Mapping[str, object]]) -> None:
    record = load_deployment(inv.ctx.state, deployment)
    gone_unasked = 0
    changed = False
    for entry in news:
        name, node = str(entry["replica"]), str(entry["node"])
        replica = load_replica(inv.ctx.state, name)
        if replica is None or replica.deployment != deployment:
            if inv.event.type in RUNNING_NEWS:
                inv.stop_on_node(deployment, name, node)  # not ours (any more): must not run
            continue
        current = noted(inv, replica, node, entry)
        changed = changed or current is not replica
        if record is None:  # left behind by a deleted deployment
            if current is not None and current.phase != "stopping":
                ask_to_stop(inv, current)
        elif (
            current is None
            and replica.phase != "stopping"
            and record.state != "deleting"
            and replica.revision == record.revision
        ):
            gone_unasked += 1
    if record is None or (inv.event.type in READINESS_NEWS and not changed):
        return  # readiness said again changes nothing to decide
    if step_on_replica_event(
        record.replicas, blocked=record.blocked, stepped_at=record.stepped_at, now=inv.now
    ):
        step(inv, record)
    elif gone_unasked:  # lost, or stopped unasked: replace them at once
        request(inv, record, {record.revision: create_replicas(inv, record, gone_unasked)})


def noted(
    inv: Invocation, replica: ReplicaRecord, node: str, entry: Mapping[str, object]
) -> ReplicaRecord | None:
    """The replica once this news is recorded; None when it is gone."""
    kind = inv.event.type
    if kind in GONE:
        inv.ctx.state.delete(REPLICA, replica.name)
        return None
    if replica.phase == "stopping":
        return replica  # being stopped anyway
    if kind in RUNNING_NEWS and kind != events.REPLICA_EXITED and replica.node not in (None, node):
        inv.stop_on_node(replica.deployment, replica.name, node)  # a stale copy elsewhere
        return replica
    if kind in READINESS_NEWS:
        return readiness_noted(inv, replica, node, entry)
    if kind == events.REPLICA_STARTED:
        if replica.phase == "running":
            return _seen_at(inv, replica, entry)  # told again (or its probe's `ready` came first)
        ready_since = None if replica.probed else inv.now  # a probed one waits for `ready`
        updated = replace(
            replica,
            phase="running",
            node=node,
            ready_since=ready_since,
            restart_at=None,
            unready_reason=None,
        )
    elif replica.phase == "exited" and replica.restart_at is not None:
        return replica  # this exit is noted already
    else:
        exit_code, reason = entry.get("exit_code"), entry.get("reason")
        updated = replace(
            replica,
            phase="exited",
            ready_since=None,
            unready_reason=None,
            exit_code=exit_code if isinstance(exit_code, int) else None,
            reason=reason if isinstance(reason, str) else None,
            restart_at=inv.now + restart_delay(replica.restarts),
        )
    return _seen_at(inv, updated, entry, changed=True)


def _agent_time(entry: Mapping[str, object]) -> float | None:
    """The agent's time of the news (`at`); None when the entry has none."""
    at = entry.get("at")
    return None if not isinstance(at, int | float) or isinstance(at, bool) else float(at)


def _seen_at(
    inv: Invocation, replica: ReplicaRecord, entry: Mapping[str, object], *, changed: bool = False
) -> ReplicaRecord:
    """Save the replica, its `readiness_at` moved to the news' time if that is later: readiness
    news from before a start or an exit is of an earlier run, and is ignored."""
    at = _agent_time(entry)
    if at is not None and (replica.readiness_at is None or at > replica.readiness_at):
        replica, changed = replace(replica, readiness_at=at), True
    if changed:
        save_replica(inv.ctx.state, replica)
    return replica


def readiness_noted(
    inv: Invocation, replica: ReplicaRecord, node: str, entry: Mapping[str, object]
) -> ReplicaRecord:
    """The replica once its probe's news (`replica.ready` or `.unready`) is recorded."""
    at = _agent_time(entry)
    if at is None:
        return replica  # not from a Shoal agent: nothing to order it by
    if replica.phase not in _PROBED_PHASES or (
        replica.readiness_at is not None and at <= replica.readiness_at
    ):
        return replica  # from an earlier run, or older than what is recorded
    if inv.event.type == events.REPLICA_READY:
        ready_since = replica.ready_since if replica.ready_since is not None else inv.now
        why = None
    else:
        ready_since = None
        reason = entry.get("reason")
        why = reason if isinstance(reason, str) and reason else "its readiness probe failed"
    updated = replace(
        replica,
        phase="running",
        node=node,
        ready_since=ready_since,
        readiness_at=at,
        restart_at=None,
        unready_reason=why,
    )
    if updated == replace(replica, readiness_at=at):
        return replica  # the agent saying again how it stands: nothing to write
    save_replica(inv.ctx.state, updated)
    return updated
