"""The event catalog: every CloudEvent type Shoal emits or consumes, with the schema of its data.

Types are `dev.shoal.<resource>.<verb>`; `subject` is the resource's name; `source` names the
emitting component (`/shoal/<function>`, `/shoal/agents/<node>`, ...); `data` is a JSON object
whose shape is the TypedDict named in `CATALOG`. Code builds data with these TypedDicts,
subscriptions filter on these constants, and docs/functions.md lists this table (a test keeps it
in step). The orchestration functions extend the schemas as they need more fields.

Replica news comes in lists: every `dev.shoal.replica.*` event but `replica.requested` carries
`replicas`, a list of entries each naming its deployment, replica and node, so one event (one
broker ingest, one delivery per Trigger, one function invocation each) stands for what one
invocation or one agent's short window decided for many replicas. An event addressed to an agent
(`replica.scheduled`, `replica.stop.requested`) lists replicas of one node only, the node its
`shoalnode` extension names.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict

from shoal.orchestration.probes import ProbesData

DEPLOYMENT_APPLIED = "dev.shoal.deployment.applied"
DEPLOYMENT_DELETED = "dev.shoal.deployment.deleted"
DEPLOYMENT_SCALED = "dev.shoal.deployment.scaled"
DEPLOYMENT_ROLLBACK = "dev.shoal.deployment.rollback"
DEPLOYMENT_REJECTED = "dev.shoal.deployment.rejected"
DEPLOYMENT_STALLED = "dev.shoal.deployment.stalled"
REPLICA_REQUESTED = "dev.shoal.replica.requested"
REPLICA_SCHEDULED = "dev.shoal.replica.scheduled"
REPLICA_UNSCHEDULABLE = "dev.shoal.replica.unschedulable"
REPLICA_STARTED = "dev.shoal.replica.started"
REPLICA_READY = "dev.shoal.replica.ready"
REPLICA_UNREADY = "dev.shoal.replica.unready"
REPLICA_EXITED = "dev.shoal.replica.exited"
REPLICA_STOPPED = "dev.shoal.replica.stopped"
REPLICA_LOST = "dev.shoal.replica.lost"
REPLICA_STOP_REQUESTED = "dev.shoal.replica.stop.requested"
NODE_JOINED = "dev.shoal.node.joined"
NODE_HEARTBEAT = "dev.shoal.node.heartbeat"
NODE_LOST = "dev.shoal.node.lost"
NODE_NOT_READY = "dev.shoal.node.notready"
NODE_REMOVED = "dev.shoal.node.removed"
IMAGE_PUSHED = "dev.shoal.image.pushed"
PING = "dev.knative.sources.ping"

SHOAL_TYPE_PREFIX = "dev.shoal."
NODE_EXTENSION = "shoalnode"
"""Extension attribute naming the node an event is for, so an agent's Trigger can filter on it."""


class DeploymentApplied(TypedDict):
    manifest: Mapping[str, object]
    """The Deployment document as the user wrote it (apiVersion shoal.dev/v1, kind Deployment)."""


class DeploymentDeleted(TypedDict):
    deployment: str


class DeploymentScaled(TypedDict):
    deployment: str
    replicas: int
    reason: str
    """Why: the user's words, or the autoscaler's (e.g. "CPU above target asks for 4")."""


class DeploymentRollback(TypedDict):
    """Roll back to an earlier revision, as `kubectl rollout undo --to-revision=N` does: its pod
    template (image, command, env, resources, ports) replaces the current one."""

    deployment: str
    revision: NotRequired[int]
    """The revision number to go back to; 0 or absent: the one before the current revision."""


class SpecProblem(TypedDict):
    path: str
    """The field at fault, e.g. `spec.strategy.maxSurge`; empty for the whole document."""
    message: str
    """What is wrong and what to write instead."""


class DeploymentRejected(TypedDict):
    deployment: NotRequired[str]
    """The deployment's name; absent when the document has no usable `metadata.name`."""
    reason: str
    """Every problem on one line each, for people and logs."""
    problems: Sequence[SpecProblem]


class DeploymentStalled(TypedDict):
    """No progress for `progressDeadlineSeconds` (Kubernetes' ProgressDeadlineExceeded); sent
    once each time a rollout stalls. The rollout keeps going if it can."""

    deployment: str
    revision: str
    progress_deadline_seconds: int
    replicas: int
    updated: int
    available: int
    reason: str


class ReplicaTemplate(ProbesData):
    """A revision's pod template; its probes (`ProbesData`) only when it has them."""

    image: str
    command: Sequence[str]
    env: Mapping[str, str]
    resources: Capacity
    ports: Sequence[str]
    """The port names; the scheduler assigns a free host port to each."""


class ReplicaRequested(TypedDict):
    """Replicas of one revision of a deployment to run, many per event (one event per revision
    and per 10,000 replicas). Each is a Replica record already, with its resource requests.

    A listed replica without a `node` is to be placed. A listed replica that has a `node` (an
    `exited` one whose restart back-off passed, or one that stayed `scheduled` without news) is to
    be started again on that node: send it `replica.scheduled` again, with a new event id, and
    keep its allocation there. A listed replica whose record is gone was stopped meanwhile: skip it.
    """

    deployment: str
    revision: str
    """The template hash (the `revision` label of the Replica records)."""
    replicas: Sequence[str]
    template: ReplicaTemplate
    node_selector: Mapping[str, str]


class ReplicaPort(TypedDict):
    name: str
    port: int
    """The host port the scheduler assigned; the replica gets it as $PORT_<NAME> (and the first
    port as $PORT)."""


class ScheduledReplica(ProbesData):
    """One replica of `replica.scheduled` with its whole pod template (its probes too), so the
    agent can run it without reading state.

    Replica names are never reused: an agent that stopped a replica ignores a later
    `replica.scheduled` for it. A replica that exited is started again in place by a new
    `replica.scheduled` (a new event id); a redelivery of the one that started it is ignored.
    """

    deployment: str
    replica: str
    node: str
    image: str
    command: Sequence[str]
    env: Mapping[str, str]
    resources: Capacity
    ports: Sequence[ReplicaPort]


class ReplicaScheduled(TypedDict):
    """Every replica one scheduler invocation placed (or restarts) on one node: the event's
    `shoalnode` extension and subject name that node, and so does each entry."""

    replicas: Sequence[ScheduledReplica]


class UnschedulableReplica(TypedDict):
    deployment: str
    replica: str
    reason: str
    """kube-scheduler's message, e.g. "0/3 nodes are available: 3 node(s) had insufficient cpu."."""


class ReplicaUnschedulable(TypedDict):
    """The replicas of one invocation that became `unschedulable` (each is reported once); the
    scheduler keeps retrying them and sends `replica.scheduled` when it places them."""

    replicas: Sequence[UnschedulableReplica]


class ReplicaOnNode(TypedDict):
    """A replica and the node it is on: an entry of started, stopped and stop.requested."""

    deployment: str
    replica: str
    node: str
    at: NotRequired[float]
    """When the agent saw it (Unix seconds, the agent's clock; `started` only): readiness news
    older than a replica's latest start or exit is from an earlier run."""


class ReplicasOnNodes(TypedDict):
    """started, stopped (an agent's reports of a short window, coalesced) and stop.requested
    (one node's, with `shoalnode` naming it: its agent's Trigger filters on it)."""

    replicas: Sequence[ReplicaOnNode]


class ReadinessChange(TypedDict):
    """A replica whose readiness probe flipped: an entry of `replica.ready` and `.unready`."""

    deployment: str
    replica: str
    node: str
    at: float
    """When the agent saw it (Unix seconds, the agent's clock): news of one replica may arrive
    out of order, and deployments keeps the newest."""
    reason: NotRequired[str]
    """Why the probe failed (unready only), e.g. "HTTP probe failed with statuscode: 503"."""


class ReplicaReadiness(TypedDict):
    """ready, unready: an agent's reports of a short window, coalesced."""

    replicas: Sequence[ReadinessChange]


class ExitedReplica(TypedDict):
    deployment: str
    replica: str
    node: str
    exit_code: int
    """The process's exit status; 128 + N when signal N ended it, 128 when it could not start."""
    reason: str
    at: NotRequired[float]
    """When the agent saw it (Unix seconds, the agent's clock), as in `started`."""


class ReplicaExited(TypedDict):
    replicas: Sequence[ExitedReplica]


class LostReplica(TypedDict):
    deployment: str
    replica: str
    node: str
    reason: str
    """E.g. "node n1 sent no heartbeat for 3.4 s"."""


class ReplicaLost(TypedDict):
    """The replicas that were placed on a node declared lost (after its `node.lost`)."""

    replicas: Sequence[LostReplica]


class Capacity(TypedDict):
    cpu_millis: int
    memory_mib: int


class ReplicaRef(TypedDict):
    deployment: str
    replica: str


class NodeJoined(TypedDict):
    node: str
    capacity: Capacity
    labels: Mapping[str, str]
    replicas: Sequence[ReplicaRef]
    """What the node runs as it joins (after an agent restart, what it kept running)."""
    agent_url: NotRequired[str]
    """Where the node's agent serves (its Trigger's subscriber): `shoal logs` reads a
    replica's output there."""


class ReplicaUsage(TypedDict):
    deployment: str
    replica: str
    cpu_millis: int
    memory_mib: int
    cpu_utilization: int | None
    """Percent of the replica's cpu request in use (HPA's measure); None without a request."""
    started_at: str
    """RFC 3339 time the replica started, for HPA's handling of replicas still starting up."""


class NodeStatus(TypedDict):
    """One node's part of a heartbeat."""

    node: str
    capacity: Capacity
    allocated: Capacity
    """The sum of the resources its replicas request."""
    usage: Capacity
    """The sum of its replicas' measured use."""
    replicas: NotRequired[Sequence[ReplicaUsage]]
    """Every replica running on the node. Sent every few heartbeats and whenever the node's
    replicas changed; left out in between (a heartbeat stays small: what Kubernetes does with
    its frequent Lease renewals and rarer node status updates). A node declared lost comes back
    with the first heartbeat that has it."""


class NodeHeartbeat(TypedDict):
    """The nodes of one agent, alive: one node for an agent on a machine, many for a sim agent
    (an agent running several nodes in one process beats for all of them in one event, since
    they live and die together)."""

    nodes: Sequence[NodeStatus]


class NodeLost(TypedDict):
    node: str
    last_heartbeat: str
    """RFC 3339 time of the last heartbeat seen."""


class NodeNotReady(TypedDict):
    """A node silent while most nodes are (so not lost): nothing is placed on it until its next
    heartbeat, and its replicas are kept."""

    node: str
    last_heartbeat: str
    """RFC 3339 time of the last heartbeat seen."""
    reason: str
    """E.g. "no heartbeat for 3.6 s while others beat"."""


class NodeRemoved(TypedDict):
    """A node that will not come back under this name (`kubectl delete node`): its replicas are
    replaced at once instead of after the heartbeat grace."""

    node: str
    reason: str


class ImagePushed(TypedDict):
    repository: str
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class EventType:
    """One catalog entry: the type, its data schema, who emits it and who consumes it."""

    type: str
    schema: builtins.type[object]
    emitted_by: str
    consumed_by: str


CATALOG: tuple[EventType, ...] = (
    EventType(DEPLOYMENT_APPLIED, DeploymentApplied, "user, images", "deployments"),
    EventType(DEPLOYMENT_DELETED, DeploymentDeleted, "user", "deployments"),
    EventType(DEPLOYMENT_SCALED, DeploymentScaled, "user, autoscaler", "deployments"),
    EventType(DEPLOYMENT_ROLLBACK, DeploymentRollback, "user", "deployments"),
    EventType(DEPLOYMENT_REJECTED, DeploymentRejected, "deployments", "user"),
    EventType(DEPLOYMENT_STALLED, DeploymentStalled, "deployments", "user"),
    EventType(REPLICA_REQUESTED, ReplicaRequested, "deployments", "scheduler"),
    EventType(REPLICA_SCHEDULED, ReplicaScheduled, "scheduler", "agent"),
    EventType(REPLICA_UNSCHEDULABLE, ReplicaUnschedulable, "scheduler", "users"),
    EventType(REPLICA_STARTED, ReplicasOnNodes, "agent", "deployments"),
    EventType(REPLICA_READY, ReplicaReadiness, "agent", "deployments"),
    EventType(REPLICA_UNREADY, ReplicaReadiness, "agent", "deployments"),
    EventType(REPLICA_EXITED, ReplicaExited, "agent", "deployments, scheduler"),
    EventType(REPLICA_STOPPED, ReplicasOnNodes, "agent", "deployments, scheduler"),
    EventType(REPLICA_LOST, ReplicaLost, "nodes", "deployments, scheduler"),
    EventType(REPLICA_STOP_REQUESTED, ReplicasOnNodes, "deployments, nodes", "agent"),
    EventType(NODE_JOINED, NodeJoined, "agent", "nodes, scheduler"),
    EventType(NODE_HEARTBEAT, NodeHeartbeat, "agent", "nodes"),
    EventType(NODE_LOST, NodeLost, "nodes", "users (replica.lost follows)"),
    EventType(NODE_NOT_READY, NodeNotReady, "nodes", "users"),
    EventType(NODE_REMOVED, NodeRemoved, "user, shoal up, agent", "nodes"),
    EventType(IMAGE_PUSHED, ImagePushed, "registry webhook", "images"),
)
"""Every `dev.shoal.*` type. `dev.knative.sources.ping` (PING) is Knative's and not listed."""
