"""deployments: keep each Deployment's replicas what its spec asks for, one rolling step at a time.

In: `deployment.applied` / `.deleted` / `.scaled` / `.rollback` (people, the autoscaler, images),
the replicas' news (`replica.scheduled` / `.unschedulable` from the scheduler, `.started` /
`.exited` / `.stopped` from agents, `.lost` from nodes) and a periodic tick. Out: one
`replica.requested` listing every replica to place or start (per revision), a
`replica.stop.requested` per replica to stop (extension `shoalnode` names its node, for its
agent's Trigger), `deployment.rejected` for a spec a person must fix and `deployment.stalled`
when a rollout passes its progress deadline. docs/orchestration.md has the data shapes.

The decisions are pure (`shoal.orchestration`: `reconcile` on top of `rollout.plan_step`,
`revisions`, `images`); this module reads and writes the records (`shoal.model`) and turns
decisions into events. Replica news is recorded at once; whether it also runs a whole reconcile
(which reads every replica of the deployment) is `reconcile.step_on_replica_event`'s call, so a
10,000-replica deployment does not re-read 10,000 records for each of its 10,000 `started`
events. A lost replica, or one that stopped without being asked, is replaced at once either way.
Everything else is caught up by the tick, which is level-triggered: whatever a lost event left
missing or extra is corrected there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from shoal import events
from shoal.model import (
    DEPLOYMENT,
    REPLICA,
    DeploymentRecord,
    ReplicaRecord,
    RevisionRecord,
    replica_name,
)
from shoal.orchestration.fields import Problem
from shoal.orchestration.images import FollowedImage, follow_image
from shoal.orchestration.reconcile import (
    Observed,
    due_on_tick,
    reconcile,
    request_timeout,
    step_on_replica_event,
)
from shoal.orchestration.revisions import (
    UnknownRevision,
    kept_revisions,
    renumber,
    rollback_target,
    with_template,
)
from shoal.orchestration.rollout import Target, restart_delay
from shoal.orchestration.spec import Deployment, InvalidSpec, parse_deployment, template_hash
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

REQUEST_TIMEOUT_SECONDS = 30.0
"""A placement, start or stop with no news for this long is asked for again (longer for large
deployments: `reconcile.request_timeout`)."""
MAX_REPLICAS_PER_REQUEST = 500
"""Names per `replica.requested`. The scheduler places each request in an invocation of its
own, so the requests of a large deployment are placed one after the other, each holding the
state store's write lock for a fraction of a second rather than one for many seconds (about
10 s for 10,000 replicas on a busy two-core machine, while no heartbeat could be recorded), and
their `replica.scheduled` events are published side by side by the scheduler's threads
rather than one after the other by one."""
MIN_REPLICAS_PER_REQUEST = 25
REQUEST_SPREAD = 8
"""Requests are split into up to this many shares (the scheduler's threads, `THREADS`) of at
least MIN_REPLICAS_PER_REQUEST names: replacing the 100 replicas of a lost node is four requests
whose `replica.scheduled` events are published side by side; each `replica.scheduled` is one
POST to the broker, which answers once the event is on disk (about 15 ms on a busy machine)."""


@dataclass
class Invocation:
    """One handler run: its state transaction, its time, and what it emits, in order."""

    ctx: Context
    event: Event
    now: float
    emits: list[Emit] = field(default_factory=list)


# --- records -------------------------------------------------------------------------------


def load_deployment(inv: Invocation, name: str) -> DeploymentRecord | None:
    resource = inv.ctx.state.get(DEPLOYMENT, name)
    return None if resource is None else DeploymentRecord.from_body(resource.body)


def save_deployment(inv: Invocation, record: DeploymentRecord) -> None:
    inv.ctx.state.put(DEPLOYMENT, record.name, record.to_body(), labels=record.labels())


def load_replica(inv: Invocation, name: str) -> ReplicaRecord | None:
    resource = inv.ctx.state.get(REPLICA, name)
    return None if resource is None else ReplicaRecord.from_body(resource.body)


def save_replica(inv: Invocation, replica: ReplicaRecord) -> None:
    inv.ctx.state.put(REPLICA, replica.name, replica.to_body(), labels=replica.labels())


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


# --- emitting --------------------------------------------------------------------------------


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
    save_replica(inv, replace(replica, phase="stopping", requested_at=inv.now))
    stop_on_node(inv, replica.deployment, replica.name, replica.node)


def stop_on_node(inv: Invocation, deployment: str, replica: str, node: str) -> None:
    data: events.ReplicaOnNode = {"deployment": deployment, "replica": replica, "node": node}
    inv.emits.append(
        Emit(
            events.REPLICA_STOP_REQUESTED,
            data=data,
            subject=replica,
            extensions={events.NODE_EXTENSION: node},
        )
    )


def shares(names: Sequence[str]) -> list[Sequence[str]]:
    """`names` in consecutive shares for as many `replica.requested`: up to REQUEST_SPREAD
    shares of at least MIN_REPLICAS_PER_REQUEST names, more when that makes a share larger
    than MAX_REPLICAS_PER_REQUEST."""
    spread = -(-len(names) // REQUEST_SPREAD)
    size = min(MAX_REPLICAS_PER_REQUEST, max(MIN_REPLICAS_PER_REQUEST, spread))
    return [names[start : start + size] for start in range(0, len(names), size)]


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
            node_selector=dict(deployment.constraints.node_selector),
            created_at=inv.now,
            requested_at=inv.now,
        )
        inv.ctx.state.put(
            REPLICA, name, replica.to_body(), expected_version=0, labels=replica.labels()
        )
        names.append(name)
    return names


# --- the whole reconcile ---------------------------------------------------------------------


def step(inv: Invocation, record: DeploymentRecord) -> None:
    """Reconcile one deployment fully: every replica of it read, every correction made."""
    replicas = {
        resource.name: ReplicaRecord.from_body(resource.body)
        for resource in inv.ctx.state.list(REPLICA, label_selector={"deployment": record.name})
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
        inv.ctx.state.delete(REPLICA, name)
        del replicas[name]
    for name in actions.stop:
        ask_to_stop(inv, replicas[name])
    for name in actions.stop_again:
        replica = replicas[name]
        save_replica(inv, replace(replica, requested_at=inv.now))
        stop_on_node(inv, replica.deployment, name, str(replica.node))
    wanted: defaultdict[str, list[str]] = defaultdict(list)
    for name in actions.restart:
        replica = replicas[name]
        restarted = replace(replica, restarts=replica.restarts + 1, restart_at=None)
        save_replica(inv, replace(restarted, requested_at=inv.now))
        wanted[replica.revision].append(name)
    for name in actions.request_again:
        save_replica(inv, replace(replicas[name], requested_at=inv.now))
        wanted[replicas[name].revision].append(name)
    if actions.create:
        wanted[record.revision].extend(create_replicas(inv, record, actions.create))
    request(inv, record, wanted)
    if actions.step is None:  # deleting: done once no replica is left
        if replicas:
            save_deployment(inv, replace(record, blocked=False, stepped_at=inv.now))
        else:
            inv.ctx.state.delete(DEPLOYMENT, record.name)
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
        inv,
        replace(
            record,
            revisions=tuple(revision for revision in record.revisions if revision.hash in keep),
            state=plan.verdict,
            progress_at=plan.progress_at,
            ready=sum(
                r.phase == "running" and r.ready_since is not None for r in replicas.values()
            ),
            updated=plan.updated,
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


# --- the deployment's own events -------------------------------------------------------------


def adopt(
    inv: Invocation, previous: DeploymentRecord | None, spec: Deployment, image: FollowedImage
) -> None:
    """Make `image.manifest` the deployment's document and take the first step towards it."""
    revision = template_hash(spec)
    history = {entry.hash: entry for entry in previous.revisions} if previous else {}
    numbers = renumber({entry.hash: entry.number for entry in history.values()}, revision)
    created_at = history[revision].created_at if revision in history else inv.now
    history[revision] = RevisionRecord(revision, numbers[revision], image.manifest, created_at)
    base = previous or DeploymentRecord(spec.name, image.manifest, revision, spec.replicas)
    changed = (
        previous is None
        or previous.state == "deleting"
        or (previous.revision, previous.replicas) != (revision, spec.replicas)
    )
    record = replace(
        base,
        manifest=image.manifest,
        revision=revision,
        replicas=spec.replicas,
        revisions=tuple(sorted(history.values(), key=lambda entry: entry.number)),
        image_digests={image.follows: image.digest} if image.follows and image.digest else {},
        follows=image.follows,
        state="progressing" if changed else base.state,
        progress_at=inv.now if changed else base.progress_at,
    )
    if changed:
        inv.ctx.log.info("deployment changed", deployment=spec.name, revision=revision)
    step(inv, record)


def on_applied(inv: Invocation) -> None:
    manifest = inv.event.data_object().get("manifest")
    document = manifest if isinstance(manifest, Mapping) else {}
    try:
        previous = load_deployment(inv, parse_deployment(manifest).name)
        image = follow_image(document, previous.image_digests if previous else {})
        spec = parse_deployment(image.manifest)
    except InvalidSpec as error:
        name = mapping(document, "metadata").get("name")
        inv.emits.append(rejected(name if isinstance(name, str) else None, error.problems))
        return
    adopt(inv, previous, spec, image)


def on_rollback(inv: Invocation) -> None:
    data = inv.event.data_object()
    name = text(data, "deployment")
    to_revision = data.get("revision", 0)
    if not isinstance(to_revision, int) or isinstance(to_revision, bool) or to_revision < 0:
        raise PermanentError(
            f"data.revision must be a revision number (0: the one before), not {to_revision!r:.80}"
        )
    record = load_deployment(inv, name)
    if record is None or record.state == "deleting":
        problem = Problem("data.deployment", f"there is no deployment {name!r} to roll back")
        inv.emits.append(rejected(name, [problem]))
        return
    numbers = {revision.hash: revision.number for revision in record.revisions}
    try:
        source = next(
            revision.manifest
            for revision in record.revisions
            if revision.hash == rollback_target(numbers, record.revision, to_revision)
        )
        manifest = with_template(record.manifest, source)
        image = follow_image(manifest, {})
        spec = parse_deployment(manifest)
    except UnknownRevision as error:
        inv.emits.append(rejected(name, [Problem("data.revision", str(error))]))
        return
    except InvalidSpec as error:
        inv.emits.append(rejected(name, error.problems))
        return
    adopt(inv, record, spec, image)


def on_scaled(inv: Invocation) -> None:
    data = inv.event.data_object()
    name = text(data, "deployment")
    replicas = data.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise PermanentError(f"data.replicas must be a whole number >= 0, not {replicas!r:.80}")
    record = load_deployment(inv, name)
    if record is None or record.state == "deleting":
        inv.ctx.log.warning("scaled a deployment that does not exist", deployment=name)
        return
    changed = replicas != record.replicas
    step(
        inv,
        replace(
            record,
            manifest={
                **record.manifest,
                "spec": {**mapping(record.manifest, "spec"), "replicas": replicas},
            },
            replicas=replicas,
            state="progressing" if changed else record.state,
            progress_at=inv.now if changed else record.progress_at,
        ),
    )


def on_deleted(inv: Invocation) -> None:
    name = text(inv.event.data_object(), "deployment")
    record = load_deployment(inv, name)
    if record is not None:
        step(inv, replace(record, state="deleting"))


def on_tick(inv: Invocation) -> None:
    records = {
        resource.name: DeploymentRecord.from_body(resource.body)
        for resource in inv.ctx.state.list(DEPLOYMENT)
    }
    schedule = [(r.name, r.replicas, r.stepped_at) for r in records.values()]
    for name in due_on_tick(schedule, now=inv.now):
        step(inv, records[name])


# --- the replicas' news ----------------------------------------------------------------------

DEPLOYMENT_EVENTS = (
    events.DEPLOYMENT_APPLIED,
    events.DEPLOYMENT_DELETED,
    events.DEPLOYMENT_SCALED,
    events.DEPLOYMENT_ROLLBACK,
)
REPLICA_EVENTS = (
    events.REPLICA_SCHEDULED,
    events.REPLICA_UNSCHEDULABLE,
    events.REPLICA_STARTED,
    events.REPLICA_EXITED,
    events.REPLICA_STOPPED,
    events.REPLICA_LOST,
)
GONE = (events.REPLICA_STOPPED, events.REPLICA_LOST)


def on_replica_news(inv: Invocation) -> None:
    data = inv.event.data_object()
    deployment, name = text(data, "deployment"), text(data, "replica")
    reported = data.get("node")
    node = reported if isinstance(reported, str) and reported else None
    replica = load_replica(inv, name)
    if replica is None or replica.deployment != deployment:
        if node is not None and inv.event.type in (events.REPLICA_STARTED, events.REPLICA_EXITED):
            stop_on_node(inv, deployment, name, node)  # not ours (any more): must not run
        return
    current = noted(inv, replica, node, data)
    record = load_deployment(inv, deployment)
    if record is None:  # left behind by a deleted deployment
        if current is not None and current.phase != "stopping":
            ask_to_stop(inv, current)
    elif step_on_replica_event(
        record.replicas, blocked=record.blocked, stepped_at=record.stepped_at, now=inv.now
    ):
        step(inv, record)
    elif (
        current is None
        and replica.phase != "stopping"
        and record.state != "deleting"
        and replica.revision == record.revision
    ):  # lost, or stopped unasked: replace it at once
        request(inv, record, {record.revision: create_replicas(inv, record, 1)})


def noted(
    inv: Invocation, replica: ReplicaRecord, node: str | None, data: Mapping[str, object]
) -> ReplicaRecord | None:
    """The replica once this news is recorded; None when it is gone."""
    kind = inv.event.type
    if kind in GONE:
        inv.ctx.state.delete(REPLICA, replica.name)
        return None
    if replica.phase == "stopping" or kind not in (events.REPLICA_STARTED, events.REPLICA_EXITED):
        return replica  # being stopped anyway; the scheduler records its own news
    if kind == events.REPLICA_STARTED:
        if node is not None and replica.node not in (None, node):
            stop_on_node(inv, replica.deployment, replica.name, node)  # a stale copy elsewhere
            return replica
        if replica.phase == "running":
            return replica  # told again: it has been ready since it first said so
        updated = replace(
            replica,
            phase="running",
            node=node or replica.node,
            ready_since=inv.now,
            restart_at=None,
        )
    elif replica.phase == "exited" and replica.restart_at is not None:
        return replica  # this exit is noted already
    else:
        exit_code, reason = data.get("exit_code"), data.get("reason")
        updated = replace(
            replica,
            phase="exited",
            ready_since=None,
            exit_code=exit_code if isinstance(exit_code, int) else None,
            reason=reason if isinstance(reason, str) else None,
            restart_at=inv.now + restart_delay(replica.restarts),
        )
    save_replica(inv, updated)
    return updated


# --- the function ----------------------------------------------------------------------------

HANDLERS = {
    **dict.fromkeys(REPLICA_EVENTS, on_replica_news),
    events.DEPLOYMENT_APPLIED: on_applied,
    events.DEPLOYMENT_DELETED: on_deleted,
    events.DEPLOYMENT_SCALED: on_scaled,
    events.DEPLOYMENT_ROLLBACK: on_rollback,
    events.PING: on_tick,
}


def text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PermanentError(f"data.{key} must be a non-empty string, not {value!r:.80}")
    return value


def mapping(value: Mapping[str, object], key: str) -> Mapping[str, object]:
    inner = value.get(key)
    return inner if isinstance(inner, Mapping) else {}


@function(
    subscriptions=[
        Subscription(
            name="deployments",
            filters=[any_of(*(exact(type=t) for t in DEPLOYMENT_EVENTS))],
        ),
        Subscription(
            name="replicas",
            filters=[any_of(*(exact(type=t) for t in REPLICA_EVENTS))],
        ),
        Tick("deployments-reconcile", "* * * * *", local_period_seconds=2),
    ]
)
def deployments(event: Event, ctx: Context) -> list[Emit]:
    """Reconcile Deployments: rolling updates, restarts, scaling, deletion and periodic repair."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        raise PermanentError(f"deployments does not handle {event.type} events")
    inv = Invocation(ctx, event, ctx.now().timestamp())
    handler(inv)
    return inv.emits
