"""What the orchestration functions keep in the state store, shared by all of them.

Five kinds carry the cluster's state; each function writes only what it owns (the owner is
named per field), so concurrent functions never fight over a field, and serializable
transactions (`shoal.state`) keep their reads consistent:

- `Deployment` (name = deployment name; owner: deployments): the user's document, the parsed
  spec's revision history and the rollout status.
- `Replica` (name = `<deployment>-<revision hash>-<8 chars>`; labels `deployment`, `revision`
  and, once placed, `node`): created `pending` by deployments; scheduler sets `node`, `ports`
  and `scheduled`/`unschedulable`; deployments records what agents report (`running`, `exited`,
  `stopped`) and `stopping`; nodes sets `lost`.
- `Node` (name = node name; owner: nodes for membership and readiness, scheduler for
  `allocated_*`, `ports` and `deployment_replicas`): capacity, labels, readiness.
- `Lease` (name = node name; owner: nodes): the last heartbeat's time and usage figures, written
  by every heartbeat (the Node is not), as Kubernetes' node Leases.
- `Allocation` (name = replica name; owner: scheduler): the node, resources and host ports one
  placed replica holds; the Node's scheduler fields are their sums.

Bodies are plain JSON objects; the dataclasses here convert both ways so no function parses
another's JSON by hand. Times are float seconds since the epoch.
"""

from shoal.model.deployment import DEPLOYMENT, DeploymentRecord, RevisionRecord
from shoal.model.lease import LEASE, LeaseRecord
from shoal.model.node import ALLOCATION, NODE, Allocation, NodeRecord
from shoal.model.replica import (
    ACTIVE_PHASES,
    PHASES,
    REPLICA,
    TERMINAL_PHASES,
    ReplicaRecord,
    replica_name,
)

__all__ = [
    "ACTIVE_PHASES",
    "ALLOCATION",
    "DEPLOYMENT",
    "LEASE",
    "NODE",
    "PHASES",
    "REPLICA",
    "TERMINAL_PHASES",
    "Allocation",
    "DeploymentRecord",
    "LeaseRecord",
    "NodeRecord",
    "ReplicaRecord",
    "RevisionRecord",
    "replica_name",
]
