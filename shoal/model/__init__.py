"""What the orchestration functions keep in the state store, shared by all of them.

Three kinds carry the cluster's state; each function writes only what it owns (the owner is
named per field), so concurrent functions never fight over a field, and serializable
transactions (`shoal.state`) keep their reads consistent:

- `Deployment` (name = deployment name; owner: deployments): the user's document, the parsed
  spec's revision history and the rollout status.
- `Replica` (name = `<deployment>-<revision hash>-<5 chars>`; labels `deployment`, `revision`
  and, once placed, `node`): created `pending` by deployments; scheduler sets `node`, `ports`
  and `scheduled`/`unschedulable`; deployments records what agents report (`running`, `exited`,
  `stopped`) and `stopping`; nodes sets `lost`.
- `Node` (name = node name; owner: nodes for membership and liveness, scheduler for
  `allocations` and their sums `allocated_*` and `ports`): capacity, labels, readiness, last
  heartbeat, usage.

Bodies are plain JSON objects; the dataclasses here convert both ways so no function parses
another's JSON by hand. Times are float seconds since the epoch.
"""

from shoal.model.deployment import DEPLOYMENT, DeploymentRecord, RevisionRecord
from shoal.model.node import NODE, Allocation, NodeRecord
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
    "DEPLOYMENT",
    "NODE",
    "PHASES",
    "REPLICA",
    "TERMINAL_PHASES",
    "Allocation",
    "DeploymentRecord",
    "NodeRecord",
    "ReplicaRecord",
    "RevisionRecord",
    "replica_name",
]
