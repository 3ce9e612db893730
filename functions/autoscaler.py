"""autoscaler: the HorizontalPodAutoscaler, for every deployment with `spec.autoscale`.

On each `autoscaler` tick (every 15 s locally, HPA's default sync period; every minute on
Knative, the finest cron schedule) each autoscaled deployment is evaluated with
`shoal.orchestration.autoscale.decide`, from the deployment's replica count (`replicas`, as HPA
reads the scale's spec) and its replicas' cpu utilisation, which agents report in heartbeats
and nodes keeps in their Lease records. When the decision differs from the deployment's count it
emits `deployment.scaled` {deployment, replicas, reason}; since that is checked on every tick, a
lost event is sent again on the next.

Replicas are fed to HPA's algorithm as the controller groups pods: `running` ones are ready
(unless their readiness probe has not passed), with their metric, or missing when their node
has not reported one (or is lost); those
not started yet (`pending`, `unschedulable`, `scheduled`) are Pending, so not yet ready; an
`exited` one is started but without a metric; `stopping`, `stopped` and `lost` ones are on
their way out and left out, as HPA leaves out deleted and failed pods.

What HPA keeps between evaluations (the stabilization window's recommendations and the recent
scale-ups) is kept per deployment in the `Autoscaler` kind, with the last decision and its
reason; a deployment that is deleted or stops autoscaling loses its record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from shoal import events
from shoal.model import DEPLOYMENT, LEASE, REPLICA, DeploymentRecord, LeaseRecord, ReplicaRecord
from shoal.orchestration.autoscale import History, PodMetric, Policy, decide
from shoal.orchestration.spec import Autoscale, parse_deployment
from shoal.runtime import Context, Emit, Event, Tick, function
from shoal.state import Resource, Transaction

AUTOSCALER = "Autoscaler"
"""Kind, named after the deployment: {recommendations: [[time, replicas], ...], scale_ups:
[[time, added], ...], replicas, reason, evaluated_at}."""
TICK = "autoscaler"
_NOT_STARTED = frozenset({"pending", "unschedulable", "scheduled"})


@function(subscriptions=[Tick(TICK, "* * * * *", local_period_seconds=15)])
def autoscaler(event: Event, ctx: Context) -> list[Emit]:
    """Evaluates every autoscaled deployment; emits deployment.scaled where the count changes."""
    utilization = _utilization(ctx.state)
    histories = {resource.name: resource for resource in ctx.state.list(AUTOSCALER)}
    emits: list[Emit] = []
    for resource in ctx.state.list(DEPLOYMENT):
        deployment = DeploymentRecord.from_body(resource.body)
        autoscale = _autoscale(deployment)
        if autoscale is not None:
            history = histories.pop(deployment.name, None)
            emits += evaluate(ctx, deployment, autoscale, history, utilization)
    for name in histories:
        ctx.state.delete(AUTOSCALER, name)
    return emits


def evaluate(
    ctx: Context,
    deployment: DeploymentRecord,
    autoscale: Autoscale,
    kept: Resource | None,
    utilization: Mapping[str, float],
) -> list[Emit]:
    now = ctx.now().timestamp()
    pods = _pods(ctx.state, deployment.name, utilization)
    history = History() if kept is None else _history(kept.body)
    decision = decide(deployment.replicas, pods, Policy.of(autoscale), history, now)
    body = {
        "recommendations": [list(entry) for entry in decision.history.recommendations],
        "scale_ups": [list(entry) for entry in decision.history.scale_ups],
        "replicas": decision.replicas,
        "reason": decision.reason,
        "evaluated_at": now,
    }
    ctx.state.put(AUTOSCALER, deployment.name, body, labels={"deployment": deployment.name})
    if decision.replicas == deployment.replicas:
        return []
    ctx.log.info(
        "scaling",
        deployment=deployment.name,
        replicas=decision.replicas,
        current=deployment.replicas,
        reason=decision.reason,
    )
    data: events.DeploymentScaled = {
        "deployment": deployment.name,
        "replicas": decision.replicas,
        "reason": decision.reason,
    }
    return [Emit(events.DEPLOYMENT_SCALED, dict(data), subject=deployment.name)]


def _autoscale(deployment: DeploymentRecord) -> Autoscale | None:
    if deployment.state == "deleting":
        return None
    return parse_deployment(deployment.manifest).autoscale


def _utilization(tx: Transaction) -> dict[str, float]:
    """Each replica's cpu utilisation as its live node last reported it (in its Lease)."""
    utilization: dict[str, float] = {}
    for resource in tx.list(LEASE):
        lease = LeaseRecord.from_body(resource.body)
        if not lease.expired:
            utilization.update(lease.replica_cpu_utilization)
    return utilization


def _pods(tx: Transaction, deployment: str, utilization: Mapping[str, float]) -> list[PodMetric]:
    pods: list[PodMetric] = []
    for resource in tx.list(REPLICA, label_selector={"deployment": deployment}):
        replica = ReplicaRecord.from_body(resource.body)
        if replica.phase == "running":
            # Running but failing its readiness probe: unready, as HPA counts such a pod.
            ready = not replica.probed or replica.ready_since is not None
            pods.append(PodMetric(replica.name, utilization.get(replica.name), ready=ready))
        elif replica.phase == "exited":
            pods.append(PodMetric(replica.name, None, ready=False))
        elif replica.phase in _NOT_STARTED:
            pods.append(PodMetric(replica.name, None, ready=False, pending=True))
    return pods


def _history(body: Mapping[str, object]) -> History:
    def pairs(key: str) -> tuple[tuple[float, int], ...]:
        entries = cast(Sequence[Sequence[float]], body.get(key, ()))
        return tuple((float(time), int(count)) for time, count in entries)

    return History(recommendations=pairs("recommendations"), scale_ups=pairs("scale_ups"))
