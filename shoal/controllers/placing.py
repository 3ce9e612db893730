"""The scheduler's placing: requested replicas, and the unschedulable ones retried.

- A listed replica without a node (`pending` or `unschedulable`) is placed
  (`placement.place_many`): Replica `node`, `ports` and phase `scheduled`; an `Allocation` of its
  resources and ports, added to its Node's sums. A listed replica with a node (`exited`, or
  `scheduled` without news) starts again there, with the same ports and share.
- Both go out as `replica.scheduled`, one event per node listing its replicas with their
  template and host ports. One no node takes becomes `unschedulable` with kube-scheduler's
  message ("0/3 nodes are available: ...") and is reported once, in `replica.unschedulable`.
- Unschedulable replicas wait in the `Unschedulable` kind and are retried, oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import cast

from shoal import events
from shoal.controllers import replica_events
from shoal.controllers.cluster import Cluster
from shoal.controllers.records import load_replica, save_replica, text
from shoal.model import ALLOCATION, REPLICA, Allocation, ReplicaRecord
from shoal.orchestration.batches import MAX_REPLICAS_PER_REQUEST
from shoal.orchestration.placement import Request, Strategy, Unschedulable, place_many
from shoal.orchestration.probes import PROBE_KINDS, probes_in
from shoal.runtime import Emit, PermanentError
from shoal.state import Transaction

__all__ = ["UNSCHEDULABLE", "place_requested", "retry_unschedulable"]

UNSCHEDULABLE = "Unschedulable"
"""Kind: one resource per replica waiting for capacity, named after it; body {deployment,
since, template}. A retry reads the waiting replicas without scanning every Replica, and has the
template for their `replica.scheduled`."""
_PLACEABLE = frozenset({"pending", "unschedulable"})
_RESTARTABLE = frozenset({"exited", "scheduled"})
# The fields every template has (the probes are optional). Not `__required_keys__`: under
# `from __future__ import annotations` Python 3.11 counts a NotRequired field as required.
TEMPLATE_FIELDS = frozenset(events.ReplicaTemplate.__annotations__) - frozenset(PROBE_KINDS)
# Listed replicas read one by one, up to a request's worth (`batches.MAX_REPLICAS_PER_REQUEST`):
# reading a 500-name share of a 10,000-replica revision by its labels parsed all 10,000.
_FEW = MAX_REPLICAS_PER_REQUEST
Wanted = Sequence[tuple[ReplicaRecord, events.ReplicaTemplate]]
"""Replicas to place, each with the template its `replica.scheduled` carries."""


def place_requested(
    tx: Transaction, data: Mapping[str, object], strategy: Strategy, now: float
) -> list[Emit]:
    names, template = data.get("replicas"), data.get("template")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise PermanentError("replica.requested data needs `replicas`, a list of replica names")
    if not isinstance(template, Mapping) or not template.keys() >= TEMPLATE_FIELDS:
        raise PermanentError(f"replica.requested data needs `template` with {TEMPLATE_FIELDS}")
    selector = {"deployment": text(data, "deployment"), "revision": text(data, "revision")}
    replicas = _listed(tx, selector, names)
    cluster = Cluster.read(tx)
    wanted = cast(events.ReplicaTemplate, template)
    started = [
        _restart_in_place(tx, cluster, replica, wanted)
        for replica in replicas
        if replica.phase in _RESTARTABLE and replica.node in cluster.nodes
    ]
    placeable = [r for r in replicas if r.node is None and r.phase in _PLACEABLE]
    pairs = [(replica, wanted) for replica in placeable]
    emits = _place(tx, cluster, pairs, strategy=strategy, now=now, started=started)
    cluster.write(tx)
    return emits


def retry_unschedulable(tx: Transaction, strategy: Strategy, now: float) -> list[Emit]:
    waiting = sorted(tx.list(UNSCHEDULABLE), key=lambda r: (cast(float, r.body["since"]), r.name))
    wanted: list[tuple[ReplicaRecord, events.ReplicaTemplate]] = []
    for entry in waiting:
        replica = load_replica(tx, entry.name)
        if replica is None or replica.phase != "unschedulable":
            tx.delete(UNSCHEDULABLE, entry.name)
        else:
            wanted.append((replica, cast(events.ReplicaTemplate, entry.body["template"])))
    if not wanted:
        return []
    cluster = Cluster.read(tx)
    emits = _place(tx, cluster, wanted, strategy=strategy, now=now)
    cluster.write(tx)
    return emits


def _place(
    tx: Transaction,
    cluster: Cluster,
    wanted: Wanted,
    *,
    strategy: Strategy,
    now: float,
    started: Sequence[events.ScheduledReplica] = (),
) -> list[Emit]:
    templates = {replica.name: template for replica, template in wanted}
    requests = [_request(replica) for replica, _ in wanted]
    placements, unplaced = place_many(cluster.view(), requests, strategy)
    by_name = {replica.name: replica for replica, _ in wanted}
    scheduled = list(started)
    for placement in placements:
        was = by_name[placement.replica]
        replica = replace(
            was, phase="scheduled", node=placement.node, ports=placement.ports, reason=None
        )
        save_replica(tx, replica)
        if was.phase == "unschedulable":
            tx.delete(UNSCHEDULABLE, replica.name)
        cluster.allocate(tx, Allocation.of(replica))
        scheduled.append(_entry(replica, placement.node, templates[replica.name]))
    newly_unschedulable = [
        reported
        for verdict in unplaced
        if (reported := _mark_unschedulable(tx, by_name[verdict.replica], templates, verdict, now))
    ]
    return replica_events.scheduled(scheduled) + replica_events.unschedulable(newly_unschedulable)


def _restart_in_place(
    tx: Transaction, cluster: Cluster, replica: ReplicaRecord, template: events.ReplicaTemplate
) -> events.ScheduledReplica:
    """Start a replica again on its node, with the ports and share it holds there."""
    node = cast(str, replica.node)
    restarted = replace(replica, phase="scheduled")
    save_replica(tx, restarted)
    if tx.get(ALLOCATION, replica.name) is None:
        cluster.allocate(tx, Allocation.of(replica))
    return _entry(restarted, node, template)


def _mark_unschedulable(
    tx: Transaction,
    replica: ReplicaRecord,
    templates: Mapping[str, events.ReplicaTemplate],
    verdict: Unschedulable,
    now: float,
) -> events.UnschedulableReplica | None:
    """Record the reason; the news only when the replica becomes unschedulable."""
    if replica.phase == "unschedulable" and replica.reason == verdict.message:
        return None
    save_replica(tx, replace(replica, phase="unschedulable", reason=verdict.message))
    if replica.phase == "unschedulable":
        return None
    template = dict(templates[replica.name])
    tx.put(
        UNSCHEDULABLE,
        replica.name,
        {"deployment": replica.deployment, "since": now, "template": template},
    )
    return {"deployment": replica.deployment, "replica": replica.name, "reason": verdict.message}


def _entry(
    replica: ReplicaRecord, node: str, template: events.ReplicaTemplate
) -> events.ScheduledReplica:
    ports = zip(template["ports"], replica.ports, strict=True)
    return {
        "deployment": replica.deployment,
        "replica": replica.name,
        "node": node,
        "image": template["image"],
        "command": list(template["command"]),
        "env": dict(template["env"]),
        "resources": {"cpu_millis": replica.cpu_millis, "memory_mib": replica.memory_mib},
        "ports": [{"name": name, "port": number} for name, number in ports],
        **probes_in(template),
    }


def _request(replica: ReplicaRecord) -> Request:
    return Request(
        replica=replica.name,
        deployment=replica.deployment,
        cpu=replica.cpu_millis,
        memory=replica.memory_mib,
        ports=replica.port_count,
        node_selector=replica.node_selector,
    )


def _listed(
    tx: Transaction, selector: Mapping[str, str], names: Sequence[str]
) -> list[ReplicaRecord]:
    """The listed replicas that exist, each once, in order; many are read with one query by
    their labels (all are of the `selector`'s deployment and revision)."""
    listed = dict.fromkeys(names)
    if len(listed) <= _FEW:
        return [r for name in listed if (r := load_replica(tx, name)) is not None]
    found = {r.name: r for r in tx.list(REPLICA, label_selector=selector) if r.name in listed}
    return [ReplicaRecord.from_body(found[name].body) for name in listed if name in found]
