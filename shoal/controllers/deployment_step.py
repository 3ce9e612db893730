"""One whole reconcile of a deployment (`step`) and what it and the event handlers share.

`step` reads every Replica of the deployment, asks `shoal.orchestration.reconcile` what to
correct and applies it: replicas forgotten, stopped, restarted, asked for again or created, and
the rollout status written to the Deployment record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from shoal import events
from shoal.controllers import replica_events
from shoal.controllers.records import save_deployment, save_replica
from shoal.model import DEPLOYMENT, REPLICA, DeploymentRecord, ReplicaRecord, replica_name
from shoal.orchestration.batches import shares
from shoal.orchestration.fields import Problem
from shoal.orchestration.probes import probes_data
from shoal.orchestration.reconcile import Observed, reconcile, request_timeout
from shoal.orchestration.revisions import kept_revisions
from shoal.orchestration.rollout import Target
from shoal.orchestration.spec import Deployment, parse_deployment
from shoal.runtime import Context, Emit, Event

__all__ = [
    "REQUEST_TIMEOUT_SECONDS",
    "Invocation",
    "ask_to_stop",
    "create_replicas",
    "rejected",
    "request",
    "step",
]

REQUEST_TIMEOUT_SECONDS = 30.0
"""A placement, start or stop with no news for this long is asked for again (longer for large
deployments: `reconcile.request_timeout`)."""


@dataclass
class Invocation:
    """One handler run: its state transaction, its time, and what it emits, in order; the
    stops are gathered and sent last, one `replica.stop.requested` per node."""

    ctx: Context
    event: Event
    now: float
    emits: list[Emit] = field(default_factory=list)
    stops: list[events.ReplicaOnNode] = field(default_factory=list)

    def stop_on_node(self, deployment: str, replica: str, node: str) -> None:
        self.stops.append({"deployment": deployment, "replica": replica, "node": node})

    def emitted(self) -> list[Emit]:
        return self.emits + replica_events.stop_requested(self.stops)


def observed(replica: ReplicaRecord) -> Observed:
    return Observed(
        replica.name,
        replica.revision,
        replica.phase,
        replica.node,
        replica.ready_since,
        replica.restart_at,
        replica.requested_at,
    )


def rejected(name: str | None, problems: Sequence[Problem]) -> Emit:
    data: events.DeploymentRejected = {
        "reason": "; ".join(str(problem) for problem in problems),
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }
    if name is not None:
        data["deployment"] = name
    return Emit(events.DEPLOYMENT_REJECTED, data=data, subject=name)


def ask_to_stop(inv: Invocation, replica: ReplicaRecord) -> None:
    """Mark it stopping and tell its agent; never placed, it is simply forgotten."""
    if replica.node is None:
        inv.ctx.state.delete(REPLICA, replica.name)
        return
    save_replica(inv.ctx.state, replace(replica, phase="stopping", requested_at=inv.now))
    inv.stop_on_node(replica.deployment, replica.name, replica.node)


def request(inv: Invocation, record: DeploymentRecord, wanted: Mapping[str, list[str]]) -> None:
    """The replicas to place or start, by revision, as `replica.requested` events (`shares`)."""
    current = parse_deployment(record.manifest)
    manifests = {revision.hash: revision.manifest for revision in record.revisions}
    for revision, names in wanted.items():
        template = current if revision == record.revision else parse_deployment(manifests[revision])
        for share in shares(names):
            data: events.ReplicaRequested = {
                "deployment": record.name,
                "revision": revision,
                "replicas": list(share),
                "template": replica_template(template),
                "node_selector": dict(current.constraints.node_selector),
            }
            inv.emits.append(Emit(events.REPLICA_REQUESTED, data=data, subject=record.name))


def replica_template(deployment: Deployment) -> events.ReplicaTemplate:
    template = deployment.template
    return {
        "image": template.image,
        "command": list(template.command),
        "env": dict(template.env),
        "resources": {
            "cpu_millis": template.resources.cpu_millis,
            "memory_mib": template.resources.memory_mib,
        },
        "ports": [port.name for port in template.ports],
        **probes_data(template.readiness, template.liveness, template.startup),
    }


def create_replicas(inv: Invocation, record: DeploymentRecord, count: int) -> list[str]:
    """`count` pending replicas of the current revision. Names derive from the event, so a
    re-run of this invocation creates the same ones; a name taken already is skipped."""
    deployment = parse_deployment(record.manifest)
    template = deployment.template
    seed = f"{inv.event.source}\0{inv.event.id}"
    names: list[str] = []
    attempt = 0
    while len(names) < count:
        name = replica_name(record.name, record.revision, f"{seed}\0{attempt}")
        attempt += 1
        if inv.ctx.state.get(REPLICA, name) is not None:
            continue
        replica = ReplicaRecord(
            name=name,
            deployment=record.name,
            revision=record.revision,
            cpu_millis=template.resources.cpu_millis,
            memory_mib=template.resources.memory_mib,
            port_count=len(template.ports),
            # Ready only on its agent's word: once its readiness probe passes, or, without one,
            # once its startup probe has.
            probed=template.readiness is not None or template.startup is not None,
            node_selector=dict(deployment.constraints.node_selector),
            created_at=inv.now,
            requested_at=inv.now,
        )
        inv.ctx.state.put(
            REPLICA, name, replica.to_body(), expected_version=0, labels=replica.labels()
        )
        names.append(name)
    return names


def step(inv: Invocation, record: DeploymentRecord) -> None:
    """Reconcile one deployment fully: every replica of it read, every correction made."""
    tx = inv.ctx.state
    replicas = {
        resource.name: ReplicaRecord.from_body(resource.body)
        for resource in tx.list(REPLICA, label_selector={"deployment": record.name})
    }
    deleting = record.state == "deleting"
    target = None
    if not deleting:
        target = replace(Target.of(parse_deployment(record.manifest)), replicas=record.replicas)
    actions = reconcile(
        target,
        [observed(replica) for replica in replicas.values()],
        now=inv.now,
        progress_at=record.progress_at,
        request_timeout=request_timeout(
            REQUEST_TIMEOUT_SECONDS, max(record.replicas, len(replicas))
        ),
    )
    for name in actions.forget:
        tx.delete(REPLICA, name)
        del replicas[name]
    for name in actions.stop:
        ask_to_stop(inv, replicas[name])
    for name in actions.stop_again:
        replica = replicas[name]
        save_replica(tx, replace(replica, requested_at=inv.now))
        inv.stop_on_node(replica.deployment, name, str(replica.node))
    wanted: defaultdict[str, list[str]] = defaultdict(list)
    for name in actions.restart:
        replica = replicas[name]
        restarted = replace(replica, restarts=replica.restarts + 1, restart_at=None)
        save_replica(tx, replace(restarted, requested_at=inv.now))
        wanted[replica.revision].append(name)
    for name in actions.request_again:
        save_replica(tx, replace(replicas[name], requested_at=inv.now))
        wanted[replicas[name].revision].append(name)
    if actions.create:
        wanted[record.revision].extend(create_replicas(inv, record, actions.create))
    request(inv, record, wanted)
    if actions.step is None:  # deleting: done once no replica is left
        if replicas:
            save_deployment(tx, replace(record, blocked=False, stepped_at=inv.now))
        else:
            tx.delete(DEPLOYMENT, record.name)
            inv.ctx.log.info("deployment deleted", deployment=record.name)
        return
    plan = actions.step
    if plan.verdict == "stalled" and record.state != "stalled":
        inv.emits.append(stalled(record, plan.updated, plan.available))
    keep = kept_revisions(
        {revision.hash: revision.number for revision in record.revisions},
        record.revision,
        in_use={replica.revision for replica in replicas.values()},
        history_limit=parse_deployment(record.manifest).revision_history_limit,
    )
    save_deployment(
        tx,
        replace(
            record,
            revisions=tuple(revision for revision in record.revisions if revision.hash in keep),
            state=plan.verdict,
            progress_at=plan.progress_at,
            ready=sum(
                r.phase == "running" and r.ready_since is not None for r in replicas.values()
            ),
            # as it stands once this step is applied: the replicas it creates count too
            updated=plan.updated + actions.create,
            available=plan.available,
            blocked=actions.blocked,
            stepped_at=inv.now,
        ),
    )


def stalled(record: DeploymentRecord, updated: int, available: int) -> Emit:
    deadline = parse_deployment(record.manifest).progress_deadline_seconds
    data: events.DeploymentStalled = {
        "deployment": record.name,
        "revision": record.revision,
        "progress_deadline_seconds": deadline,
        "replicas": record.replicas,
        "updated": updated,
        "available": available,
        "reason": (
            f"no progress for more than {deadline}s (progressDeadlineSeconds): {updated} of "
            f"{record.replicas} replicas updated, {available} available"
        ),
    }
    return Emit(events.DEPLOYMENT_STALLED, data=data, subject=record.name)
