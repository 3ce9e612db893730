"""nodes: node membership and liveness (joins, heartbeats, loss after missed heartbeats).

- `node.joined` {node, capacity, labels, replicas, agent_url?}: the Node is created or updated
  (capacity, labels, agent URL, ready) and keeps what the scheduler placed on it; its Lease is
  renewed.
- `node.heartbeat` {node, capacity, allocated, usage, replicas}: the node's `Lease`
  (`shoal.model.lease`) is renewed with the heartbeat's time, usage and each replica's cpu
  utilisation (what the autoscaler reads). For a live node that is one small get and one small
  put and nothing else; the Node record, which the scheduler writes, is not touched.
- A node that comes back (a join, or a heartbeat while it is not ready) is ready again, and
  every replica it reports that is no longer placed on it (declared lost and replaced while it
  was away) gets `replica.stop.requested` with `shoalnode=<node>`. A heartbeat from a node never
  seen (its join lost) registers it, without labels until it joins.
- `node.removed` {node, reason} (`shoal delete node`, or `shoal up` for the nodes of an agent
  it no longer runs): the node will not come back under this name, so its replicas are lost at
  once (not after the grace) and replaced, and its Node is deleted (`shoal get nodes` no longer
  lists it). Its Lease stays as a tombstone (`removed_at`): a join or heartbeat that reached the
  broker before the removal (delivered late) is ignored; a later one brings the node back, as
  Kubernetes' kubelet re-registers a deleted Node.
- On the `node-liveness` tick, a node whose Lease was last renewed more than interval x missed
  heartbeats ago (`shoal.orchestration.nodes`) is lost: Lease expired, Node not ready,
  `node.lost`, and its replicas become `lost`, listed in one `replica.lost` (deployments
  replaces them, the scheduler frees their shares). The tick runs every 0.5 s locally, so a
  node is declared lost at most 0.5 s after its grace ends.
- On the same tick, a node more than the grace behind the newest heartbeat of any node but not
  lost (most nodes went silent together, so the median rule holds the verdict back) is silent:
  `node.notready`, its Node is not ready, so the scheduler places nothing there, and its
  replicas are kept. Its next heartbeat makes it ready again
  (`shoal.orchestration.nodes.silent_nodes`).
- On Knative, PingSources tick once a minute (cron), which alone would declare a node lost up
  to a minute late. With `SHOAL_NODE_LIVENESS_ON_HEARTBEAT=1` (the base manifests' shared
  settings set it; `shoal up` does not, its ticks are frequent) the live nodes' heartbeats run
  the same check as well, at most once per 0.5 s per function instance, inside the heartbeat's
  transaction. Two instances judging at once cannot both declare a node lost: the first commit
  expires its Lease and the other's transaction conflicts or finds it expired.

Heartbeats are stamped with their arrival at the broker (`knativearrivaltime`; without it,
when this function handles them), not with the agents' clocks, so a skewed clock on a node
cannot make it look dead or alive. Liveness is judged no later than an interval after the
median ready node's last heartbeat, so a backlog of heartbeats (in the broker, or behind a long
state transaction) delays the verdict instead of losing live nodes (`nodes.judged_at`).
`SHOAL_NODE_HEARTBEAT_INTERVAL` (seconds, default 1: the agents' `--heartbeat-interval`) and
`SHOAL_NODE_MISSED_HEARTBEATS` (default 3) set the grace.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import cast

from shoal import events
from shoal.controllers import replica_events
from shoal.controllers.node_reports import Report, arrival, removal_of, reports_of
from shoal.model import ACTIVE_PHASES, LEASE, NODE, REPLICA, LeaseRecord, NodeRecord, ReplicaRecord
from shoal.orchestration.nodes import (
    Liveness,
    check_due,
    judged_at,
    lost_nodes,
    lost_replicas,
    silent_nodes,
    stale_replicas,
)
from shoal.runtime import Context, Emit, Event, PermanentError, Subscription, Tick, function

INTERVAL_VARIABLE = "SHOAL_NODE_HEARTBEAT_INTERVAL"
MISSED_VARIABLE = "SHOAL_NODE_MISSED_HEARTBEATS"
ON_HEARTBEAT_VARIABLE = "SHOAL_NODE_LIVENESS_ON_HEARTBEAT"
LIVENESS_TICK = "node-liveness"
LIVENESS_CHECK_PERIOD_SECONDS = 0.5
_SWITCHES = {"": False, "0": False, "false": False, "1": True, "true": True}


@dataclass(frozen=True, slots=True)
class NodesSettings:
    liveness: Liveness = field(default_factory=Liveness)
    check_on_heartbeat: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> NodesSettings:
        interval, missed = environ.get(INTERVAL_VARIABLE), environ.get(MISSED_VARIABLE)
        switch = environ.get(ON_HEARTBEAT_VARIABLE, "").strip().lower()
        if switch not in _SWITCHES:
            raise ValueError(f"{ON_HEARTBEAT_VARIABLE}={switch!r}: write 1 (on) or 0 (off)")
        try:
            return cls(Liveness(float(interval or 1.0), int(missed or 3)), _SWITCHES[switch])
        except ValueError as error:
            raise ValueError(
                f"{INTERVAL_VARIABLE}={interval!r}, {MISSED_VARIABLE}={missed!r}: write "
                f"seconds above 0 and a whole number of at least 1 ({error})"
            ) from None


SETTINGS = NodesSettings.from_environ(os.environ)


class CheckThrottle:
    """When this process last ran a liveness check on a heartbeat (a cache, not state: each
    function instance checks at most once per period)."""

    def __init__(self, period: float) -> None:
        self._period = period
        self._last: float | None = None
        self._lock = threading.Lock()

    def due(self, now: float) -> bool:
        with self._lock:
            if not check_due(self._last, now, self._period):
                return False
            self._last = now
            return True


CHECKS = CheckThrottle(LIVENESS_CHECK_PERIOD_SECONDS)


@function(
    subscriptions=[
        Subscription(name="joined", attributes={"type": events.NODE_JOINED}),
        Subscription(name="heartbeat", attributes={"type": events.NODE_HEARTBEAT}),
        Subscription(name="removed", attributes={"type": events.NODE_REMOVED}),
        Tick(LIVENESS_TICK, "* * * * *", local_period_seconds=0.5),
    ]
)
def nodes(event: Event, ctx: Context) -> list[Emit]:
    """Records joins and heartbeats; declares nodes lost when their heartbeats stop."""
    if event.type == events.NODE_REMOVED:
        return remove(ctx, removal_of(event), arrival(event) or ctx.now().timestamp())
    if event.type in (events.NODE_JOINED, events.NODE_HEARTBEAT):
        emits = [emit for seen in reports_of(event) for emit in report(ctx, seen)]
        if SETTINGS.check_on_heartbeat and CHECKS.due(ctx.now().timestamp()):
            emits += detect_lost(ctx)
        return emits
    if event.source.endswith(f"/pingsources/{LIVENESS_TICK}"):
        return detect_lost(ctx)
    raise PermanentError(f"nodes does not handle {event.type} from {event.source}")


def report(ctx: Context, seen: Report) -> list[Emit]:
    at = ctx.now().timestamp() if seen.arrived_at is None else seen.arrived_at
    resource = ctx.state.get(LEASE, seen.node)
    known = None if resource is None else LeaseRecord.from_body(resource.body)
    if known is not None and known.removed_at is not None and at <= known.removed_at:
        ctx.log.info("report from before the node's removal ignored", node=seen.node)
        return []
    utilization = seen.utilization
    if utilization is None:  # a heartbeat without the replica list: the last one stands
        utilization = {} if known is None else known.replica_cpu_utilization
    # A node that comes back is checked for stale replicas, which needs its replica list: until
    # a report with one comes (within a few heartbeats), it stays lost.
    returning = known is None or known.expired
    lease = LeaseRecord(
        seen.node,
        # heartbeats may be delivered out of order
        renewed_at=at if known is None else max(known.renewed_at, at),
        expired=returning and seen.replicas is None,
        usage_cpu_millis=seen.usage[0] if seen.usage else 0,
        usage_memory_mib=seen.usage[1] if seen.usage else 0,
        replica_cpu_utilization=utilization,
    )
    ctx.state.put(LEASE, seen.node, lease.to_body())
    if (not returning and seen.labels is None) or seen.replicas is None:
        if known is not None and known.silent and not returning:
            _set_ready(ctx, seen.node, True, "heartbeat after silence")
        return []  # an ordinary heartbeat: the Lease renewed, nothing else
    resource = ctx.state.get(NODE, seen.node)
    node = (
        NodeRecord(seen.node, seen.cpu_millis, seen.memory_mib, joined_at=at, created_at=at)
        if resource is None
        else NodeRecord.from_body(resource.body)
    )
    node = replace(node, cpu_millis=seen.cpu_millis, memory_mib=seen.memory_mib, ready=True)
    if seen.labels is not None:  # a join: the Node stays the same one (created_at kept)
        node = replace(
            node,
            labels=seen.labels,
            joined_at=at,
            created_at=node.registered_at,
            agent_url=seen.agent_url,
        )
    ctx.state.put(NODE, seen.node, node.to_body())
    cause = "joined" if seen.labels is not None else "heartbeat while not ready"
    ctx.log.info("node ready", node=seen.node, cause=cause if resource else "first heartbeat")
    return _stop_stale(ctx, seen.node, seen.replicas)


def _stop_stale(ctx: Context, node: str, running: Mapping[str, str]) -> list[Emit]:
    """replica.stop.requested for what the node runs but should not run any more."""
    placed: dict[str, str] = {}
    for name in running:
        resource = ctx.state.get(REPLICA, name)
        replica = None if resource is None else ReplicaRecord.from_body(resource.body)
        if replica is not None and replica.node is not None and replica.phase in ACTIVE_PHASES:
            placed[name] = replica.node
    stale: list[events.ReplicaOnNode] = [
        {"deployment": running[name], "replica": name, "node": node}
        for name in stale_replicas(node, running, placed)
    ]
    if stale:
        ctx.log.info("stopping stale replicas", node=node, replicas=len(stale))
    return replica_events.stop_requested(stale)


def detect_lost(ctx: Context) -> list[Emit]:
    leases = {r.name: LeaseRecord.from_body(r.body) for r in ctx.state.list(LEASE)}
    renewed = {name: lease.renewed_at for name, lease in leases.items() if not lease.expired}
    judged = judged_at(renewed, ctx.now().timestamp(), SETTINGS.liveness)
    lost = lost_nodes(renewed, judged, SETTINGS.liveness)
    emits: list[Emit] = []
    for name in lost:
        emits.append(_lose_node(ctx, leases[name]))
        reason = f"node {name} sent no heartbeat for {judged - renewed[name]:.1f} s"
        emits += _lose_replicas_on(ctx, name, reason)
    newest = max(renewed.values(), default=0.0)
    for name in silent_nodes(renewed, SETTINGS.liveness):
        if name not in lost and not leases[name].silent:
            emits.append(_silence_node(ctx, leases[name], newest))
    return emits


def _silence_node(ctx: Context, lease: LeaseRecord, newest: float) -> Emit:
    """The Lease silent and the Node not ready; its replicas stay."""
    ctx.state.put(LEASE, lease.node, replace(lease, silent=True).to_body())
    reason = f"no heartbeat for {newest - lease.renewed_at:.1f} s while others beat"
    _set_ready(ctx, lease.node, False, reason)
    data: events.NodeNotReady = {
        "node": lease.node,
        "last_heartbeat": _rfc3339(lease.renewed_at),
        "reason": reason,
    }
    return Emit(events.NODE_NOT_READY, dict(data), subject=lease.node)


def _set_ready(ctx: Context, name: str, ready: bool, cause: str) -> None:
    """The Node ready or not for the scheduler (silent nodes keep their replicas), logged."""
    _put_ready(ctx, name, ready)
    log = ctx.log.info if ready else ctx.log.warning
    log("node ready" if ready else "node not ready", node=name, cause=cause)


def _put_ready(ctx: Context, name: str, ready: bool) -> None:
    resource = ctx.state.get(NODE, name)
    if resource is not None:
        ctx.state.put(
            NODE, name, replace(NodeRecord.from_body(resource.body), ready=ready).to_body()
        )


def remove(ctx: Context, removal: events.NodeRemoved, at: float) -> list[Emit]:
    """The node deleted, its Lease a tombstone, its replicas lost at once."""
    name = removal["node"]
    lease_resource, node_resource = ctx.state.get(LEASE, name), ctx.state.get(NODE, name)
    lease = None if lease_resource is None else LeaseRecord.from_body(lease_resource.body)
    if node_resource is None and (lease is None or lease.removed_at is not None):
        ctx.log.info("removal of a node not known (or removed already)", node=name)
        return []
    tombstone = LeaseRecord(name, at) if lease is None else lease
    ctx.state.put(LEASE, name, replace(tombstone, expired=True, removed_at=at).to_body())
    ctx.state.delete(NODE, name)
    why = removal["reason"] or "no reason given"
    ctx.log.warning("node removed", node=name, reason=why)
    return _lose_replicas_on(ctx, name, f"node {name} was removed: {why}")


def _lose_replicas_on(ctx: Context, node: str, reason: str) -> list[Emit]:
    """The active replicas placed on `node`, lost (one `replica.lost`, or none)."""
    placed: dict[str, ReplicaRecord] = {}
    for resource in ctx.state.list(REPLICA, label_selector={"node": node}):
        replica = ReplicaRecord.from_body(resource.body)
        if replica.phase in ACTIVE_PHASES:
            placed[replica.name] = replica
    replica_nodes = dict.fromkeys(placed, node)
    gone = [_lose_replica(ctx, placed[r], reason) for r in lost_replicas(replica_nodes, {node})]
    return replica_events.lost(node, gone)


def _lose_node(ctx: Context, lease: LeaseRecord) -> Emit:
    """The Lease expired and the Node not ready (the scheduler places nothing there)."""
    ctx.state.put(LEASE, lease.node, replace(lease, expired=True).to_body())
    _put_ready(ctx, lease.node, False)
    last = _rfc3339(lease.renewed_at)
    ctx.log.warning("node lost", node=lease.node, last_heartbeat=last)
    data: events.NodeLost = {"node": lease.node, "last_heartbeat": last}
    return Emit(events.NODE_LOST, dict(data), subject=lease.node)


def _lose_replica(ctx: Context, replica: ReplicaRecord, reason: str) -> events.LostReplica:
    lost = replace(replica, phase="lost", reason=reason)
    ctx.state.put(REPLICA, lost.name, lost.to_body(), labels=lost.labels())
    return {
        "deployment": replica.deployment,
        "replica": replica.name,
        "node": cast(str, replica.node),
        "reason": reason,
    }


def _rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
