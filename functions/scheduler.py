"""scheduler: place replicas on nodes, and give their resources back when they end.

Placement is `shoal.orchestration.placement` (filters, then the `spread` or `binpack` score of
`SHOAL_SCHEDULER_STRATEGY`, plus spreading a deployment over nodes): one invocation reads every
node once and places every replica it was asked for, as kube-scheduler would one at a time.

- `replica.requested` {deployment, revision, replicas, template, node_selector}: a listed
  replica without a node (`pending` or `unschedulable`) is placed: Replica `node`, `ports` and
  phase `scheduled`; an `Allocation` of its resources and ports, added to its Node's sums; and
  `replica.scheduled` with `shoalnode=<node>`, carrying the template and the host ports to the
  agent. A listed replica with a node (`exited`, or `scheduled` without news) starts again
  there: a new `replica.scheduled`, same ports and share. One no node takes becomes
  `unschedulable` with kube-scheduler's message ("0/3 nodes are available: ...") and
  `replica.unschedulable`, once.
- `replica.stopped`, `replica.lost`, and `replica.exited` when the replica no longer holds its
  node: its Allocation is given back (it outlives the Replica record, which deployments may
  delete first), and the waiting replicas are tried again.
- Unschedulable replicas wait in the `Unschedulable` kind and are retried, oldest first, after a
  release, on `node.joined` and on the `scheduler-retry` tick (which also catches a join seen
  here before nodes recorded the node).
- The `scheduler-resync` tick rebuilds the Allocations and the Nodes' sums from the Replica
  records, so a lost event cannot leak capacity for good.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import cast, get_args

from shoal import events
from shoal.model import (
    ACTIVE_PHASES,
    ALLOCATION,
    NODE,
    REPLICA,
    Allocation,
    NodeRecord,
    ReplicaRecord,
)
from shoal.orchestration.placement import Node, Request, Strategy, Unschedulable, place_many
from shoal.runtime import (
    Context,
    Emit,
    Event,
    PermanentError,
    Subscription,
    Tick,
    any_of,
    exact,
    function,
)
from shoal.state import Transaction

UNSCHEDULABLE = "Unschedulable"
"""Kind: one resource per replica waiting for capacity, named after it; body {deployment,
since, template}. A retry reads the waiting replicas without scanning every Replica, and has the
template for their `replica.scheduled`."""
STRATEGY_VARIABLE = "SHOAL_SCHEDULER_STRATEGY"
RETRY_TICK = "scheduler-retry"
RESYNC_TICK = "scheduler-resync"
_PLACEABLE = frozenset({"pending", "unschedulable"})
_RESTARTABLE = frozenset({"exited", "scheduled"})
TEMPLATE_FIELDS = frozenset(events.ReplicaTemplate.__annotations__)
# Listed replicas read one by one, up to a request's worth (deployments' MAX_REPLICAS_PER_REQUEST):
# reading a 500-name share of a 10,000-replica revision by its labels parsed all 10,000.
_FEW = 500
FREED = (events.REPLICA_STOPPED, events.REPLICA_LOST, events.REPLICA_EXITED)
Wanted = Sequence[tuple[ReplicaRecord, events.ReplicaTemplate]]
"""Replicas to place, each with the template its `replica.scheduled` carries."""


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    strategy: Strategy = "spread"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SchedulerSettings:
        value = environ.get(STRATEGY_VARIABLE) or "spread"
        if value not in get_args(Strategy):
            raise ValueError(
                f"{STRATEGY_VARIABLE}={value!r}: write spread (least allocated nodes first, "
                "the default) or binpack (most allocated first)"
            )
        return cls(strategy=cast(Strategy, value))


SETTINGS = SchedulerSettings.from_environ(os.environ)


@function(
    subscriptions=[
        Subscription(name="requested", attributes={"type": events.REPLICA_REQUESTED}),
        Subscription(name="freed", filters=[any_of(*(exact(type=t) for t in FREED))]),
        Subscription(name="joined", attributes={"type": events.NODE_JOINED}),
        Tick(RETRY_TICK, "* * * * *", local_period_seconds=1),
        Tick(RESYNC_TICK, "* * * * *", local_period_seconds=30),
    ]
)
def scheduler(event: Event, ctx: Context) -> list[Emit]:
    """Places requested replicas, frees what ended replicas held, retries unschedulable ones."""
    if event.type == events.REPLICA_REQUESTED:
        return place_requested(ctx, event.data_object())
    if event.type in FREED:
        data = event.data_object()
        replica, node = _text(data, "replica"), _text(data, "node")
        if event.type == events.REPLICA_EXITED and _holds(ctx.state, node, replica):
            return []  # exited but still its node's: deployments restarts it in place
        return free(ctx, node, replica)
    if event.type == events.NODE_JOINED or event.source.endswith(f"/pingsources/{RETRY_TICK}"):
        return retry_unschedulable(ctx)
    if event.source.endswith(f"/pingsources/{RESYNC_TICK}"):
        return resync(ctx)
    raise PermanentError(f"the scheduler does not handle {event.type} from {event.source}")


def place_requested(ctx: Context, data: Mapping[str, object]) -> list[Emit]:
    names, template = data.get("replicas"), data.get("template")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise PermanentError("replica.requested data needs `replicas`, a list of replica names")
    if not isinstance(template, Mapping) or not template.keys() >= TEMPLATE_FIELDS:
        raise PermanentError(f"replica.requested data needs `template` with {TEMPLATE_FIELDS}")
    selector = {"deployment": _text(data, "deployment"), "revision": _text(data, "revision")}
    replicas = _listed(ctx.state, selector, names)
    cluster = _Cluster.read(ctx.state)
    wanted = cast(events.ReplicaTemplate, template)
    emits = [
        _restart_in_place(ctx.state, cluster, replica, wanted)
        for replica in replicas
        if replica.phase in _RESTARTABLE and replica.node in cluster.nodes
    ]
    placeable = [r for r in replicas if r.node is None and r.phase in _PLACEABLE]
    emits += _place(ctx, cluster, [(replica, wanted) for replica in placeable])
    cluster.write(ctx.state)
    return emits


def free(ctx: Context, node: str, replica: str) -> list[Emit]:
    """Give back what `replica` holds on `node`, then retry the waiting replicas."""
    resource = ctx.state.get(ALLOCATION, replica)
    allocation = None if resource is None else Allocation.from_body(resource.body)
    if allocation is None or allocation.node != node:
        return []
    ctx.state.delete(ALLOCATION, replica)
    resource = ctx.state.get(NODE, node)
    if resource is not None:
        record = NodeRecord.from_body(resource.body).with_allocations(removed=[allocation])
        ctx.state.put(NODE, node, record.to_body())
    return retry_unschedulable(ctx)


def retry_unschedulable(ctx: Context) -> list[Emit]:
    waiting = sorted(
        ctx.state.list(UNSCHEDULABLE), key=lambda r: (cast(float, r.body["since"]), r.name)
    )
    wanted: list[tuple[ReplicaRecord, events.ReplicaTemplate]] = []
    for entry in waiting:
        replica = _replica(ctx.state, entry.name)
        if replica is None or replica.phase != "unschedulable":
            ctx.state.delete(UNSCHEDULABLE, entry.name)
        else:
            wanted.append((replica, cast(events.ReplicaTemplate, entry.body["template"])))
    if not wanted:
        return []
    cluster = _Cluster.read(ctx.state)
    emits = _place(ctx, cluster, wanted)
    cluster.write(ctx.state)
    return emits


def resync(ctx: Context) -> list[Emit]:
    """Allocations and node sums rebuilt from the active replicas; then retry the waiting."""
    cluster = _Cluster.read(ctx.state)
    wanted: dict[str, Allocation] = {}
    for resource in ctx.state.list(REPLICA):
        replica = ReplicaRecord.from_body(resource.body)
        if replica.phase in ACTIVE_PHASES and replica.node in cluster.nodes:
            wanted[replica.name] = Allocation.of(replica)
    held = {r.name: Allocation.from_body(r.body) for r in ctx.state.list(ALLOCATION)}
    for name in held.keys() - wanted.keys():
        ctx.state.delete(ALLOCATION, name)
    for name, allocation in wanted.items():
        if held.get(name) != allocation:
            ctx.state.put(ALLOCATION, name, allocation.to_body())
    by_node: dict[str, list[Allocation]] = {name: [] for name in cluster.nodes}
    for allocation in wanted.values():
        by_node[allocation.node].append(allocation)
    changed = False
    for name, allocations in by_node.items():
        node = cluster.nodes[name].holding(allocations)
        if node != cluster.nodes[name]:
            ctx.log.warning("node allocations resynchronised", node=name)
            ctx.state.put(NODE, name, node.to_body())
            changed = True
    return retry_unschedulable(ctx) if changed else []


class _Cluster:
    """Every node as read once per invocation, and what this invocation places on them."""

    def __init__(self, nodes: dict[str, NodeRecord]) -> None:
        self.nodes = nodes
        self.added: defaultdict[str, list[Allocation]] = defaultdict(list)

    @classmethod
    def read(cls, tx: Transaction) -> _Cluster:
        return cls({r.name: NodeRecord.from_body(r.body) for r in tx.list(NODE)})

    def allocate(self, tx: Transaction, allocation: Allocation) -> None:
        tx.put(ALLOCATION, allocation.replica, allocation.to_body())
        self.added[allocation.node].append(allocation)

    def node(self, name: str) -> NodeRecord:
        """The node as this invocation leaves it."""
        added = self.added.get(name)
        return self.nodes[name] if added is None else self.nodes[name].with_allocations(added)

    def write(self, tx: Transaction) -> None:
        for name in sorted(self.added):
            tx.put(NODE, name, self.node(name).to_body())

    def view(self) -> list[Node]:
        return [_as_node(self.node(name)) for name in self.nodes]


def _as_node(record: NodeRecord) -> Node:
    return Node(
        name=record.name,
        cpu_capacity=record.cpu_millis,
        memory_capacity=record.memory_mib,
        cpu_allocated=record.allocated_cpu_millis,
        memory_allocated=record.allocated_memory_mib,
        ready=record.ready,
        labels=record.labels,
        used_ports=frozenset(record.ports),
        deployment_replicas=record.deployment_replicas,
    )


def _place(ctx: Context, cluster: _Cluster, wanted: Wanted) -> list[Emit]:
    templates = {replica.name: template for replica, template in wanted}
    requests = [_request(replica) for replica, _ in wanted]
    placements, unplaced = place_many(cluster.view(), requests, SETTINGS.strategy)
    by_name = {replica.name: replica for replica, _ in wanted}
    emits: list[Emit] = []
    for placement in placements:
        was = by_name[placement.replica]
        replica = replace(
            was, phase="scheduled", node=placement.node, ports=placement.ports, reason=None
        )
        _record(ctx.state, replica)
        if was.phase == "unschedulable":
            ctx.state.delete(UNSCHEDULABLE, replica.name)
        cluster.allocate(ctx.state, Allocation.of(replica))
        emits.append(_scheduled(replica, placement.node, templates[replica.name]))
    now = ctx.now().timestamp()
    for verdict in unplaced:
        replica = by_name[verdict.replica]
        emits += _mark_unschedulable(ctx.state, replica, templates[replica.name], verdict, now)
    return emits


def _restart_in_place(
    tx: Transaction, cluster: _Cluster, replica: ReplicaRecord, template: events.ReplicaTemplate
) -> Emit:
    """Start a replica again on its node, with the ports and share it holds there."""
    node = cast(str, replica.node)
    restarted = replace(replica, phase="scheduled")
    _record(tx, restarted)
    if tx.get(ALLOCATION, replica.name) is None:
        cluster.allocate(tx, Allocation.of(replica))
    return _scheduled(restarted, node, template)


def _mark_unschedulable(
    tx: Transaction,
    replica: ReplicaRecord,
    template: events.ReplicaTemplate,
    verdict: Unschedulable,
    now: float,
) -> list[Emit]:
    """Record the reason; the event only when the replica becomes unschedulable."""
    if replica.phase == "unschedulable" and replica.reason == verdict.message:
        return []
    _record(tx, replace(replica, phase="unschedulable", reason=verdict.message))
    if replica.phase == "unschedulable":
        return []
    waiting = {"deployment": replica.deployment, "since": now, "template": dict(template)}
    tx.put(UNSCHEDULABLE, replica.name, waiting)
    data: events.ReplicaUnschedulable = {
        "deployment": replica.deployment,
        "replica": replica.name,
        "reason": verdict.message,
    }
    return [Emit(events.REPLICA_UNSCHEDULABLE, dict(data), subject=replica.name)]


def _scheduled(replica: ReplicaRecord, node: str, template: events.ReplicaTemplate) -> Emit:
    ports = zip(template["ports"], replica.ports, strict=True)
    data: events.ReplicaScheduled = {
        "deployment": replica.deployment,
        "replica": replica.name,
        "node": node,
        "image": template["image"],
        "command": list(template["command"]),
        "env": dict(template["env"]),
        "resources": {"cpu_millis": replica.cpu_millis, "memory_mib": replica.memory_mib},
        "ports": [{"name": name, "port": number} for name, number in ports],
    }
    return Emit(
        events.REPLICA_SCHEDULED,
        dict(data),
        subject=replica.name,
        extensions={events.NODE_EXTENSION: node},
    )


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
        return [r for name in listed if (r := _replica(tx, name)) is not None]
    found = {r.name: r for r in tx.list(REPLICA, label_selector=selector) if r.name in listed}
    return [ReplicaRecord.from_body(found[name].body) for name in listed if name in found]


def _replica(tx: Transaction, name: str) -> ReplicaRecord | None:
    resource = tx.get(REPLICA, name)
    return None if resource is None else ReplicaRecord.from_body(resource.body)


def _record(tx: Transaction, replica: ReplicaRecord) -> None:
    tx.put(REPLICA, replica.name, replica.to_body(), labels=replica.labels())


def _holds(tx: Transaction, node: str, name: str) -> bool:
    """Whether the Replica `name` is still active on `node` (so it keeps its share there)."""
    replica = _replica(tx, name)
    return replica is not None and replica.node == node and replica.phase in ACTIVE_PHASES


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PermanentError(f"the event's data needs `{key}`, a non-empty string")
    return value
