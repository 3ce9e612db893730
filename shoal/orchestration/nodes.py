"""Node liveness from heartbeat times: which nodes are lost at `now`, and so which replicas.

A node is lost when it has missed `missed_heartbeats` heartbeats in a row: more than
interval * missed_heartbeats seconds have passed since the last one (at exactly that age it
still counts as alive, since its heartbeat may be in flight). Kubernetes' node controller works
the same way with a longer grace period
(https://kubernetes.io/docs/concepts/architecture/nodes/#node-controller).

Liveness is judged at `judged_at`, not simply at `now`: heartbeats are stamped with their
arrival at the broker, and when they reach the judge late (a delivery backlog, a state store
held by a long transaction) every node's last heartbeat ages alike, while retries and lock
waits reorder them by seconds. So the age is measured no later than one interval after the
median ready node's last heartbeat: a node is lost when it has fallen behind at least half of
the nodes by more than the grace, and a backlog delays the verdict instead of declaring live
nodes lost. While heartbeats flow, the median node beat within the last interval, so that is
`now`. Kubernetes' node lifecycle controller stops evicting the same way when most nodes of a
small cluster are unreachable (`--unhealthy-zone-threshold`, `--large-cluster-size-threshold`):
then it suspects itself rather than the nodes.

That rule never loses the nodes of a majority that went silent together (two of three crash):
nothing is replaced, but nothing should be placed on them either. A node whose last heartbeat is
more than the grace behind the newest heartbeat of any node is `silent_nodes`: not ready for the
scheduler, its replicas kept, until its next heartbeat. Kubernetes' node lifecycle controller
does the same in two steps: a node whose Lease is not renewed within the grace becomes
NotReady/Unknown and gets the `node.kubernetes.io/unreachable:NoSchedule` taint at once, while
eviction (`NoExecute`) is rate limited and stops in a full disruption
(https://kubernetes.io/docs/concepts/architecture/nodes/#rate-limits-on-eviction). Measuring
against the newest heartbeat, not the clock, keeps a uniform backlog of heartbeats from making
every node look silent.

A node that comes back (a network partition heals, an agent restarts) may still run replicas
that were declared lost and replaced meanwhile: `stale_replicas` names them, to be stopped.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "Liveness",
    "check_due",
    "judged_at",
    "lost_nodes",
    "lost_replicas",
    "silent_nodes",
    "stale_replicas",
]


@dataclass(frozen=True)
class Liveness:
    heartbeat_interval: float = 1.0
    missed_heartbeats: int = 3

    def __post_init__(self) -> None:
        if self.heartbeat_interval <= 0 or self.missed_heartbeats < 1:
            raise ValueError(
                "heartbeat_interval must be above 0 and missed_heartbeats at least 1, "
                f"not {self.heartbeat_interval} and {self.missed_heartbeats}"
            )

    @property
    def grace_seconds(self) -> float:
        return self.heartbeat_interval * self.missed_heartbeats


def judged_at(
    last_heartbeats: Mapping[str, float], now: float, liveness: Liveness = Liveness()
) -> float:
    """When liveness can be judged: `now`, but no later than one heartbeat interval after the
    median (the higher one of an even count) of the ready nodes' last heartbeats."""
    if not last_heartbeats:
        return now
    ordered = sorted(last_heartbeats.values())
    return min(now, ordered[len(ordered) // 2] + liveness.heartbeat_interval)


def lost_nodes(
    last_heartbeats: Mapping[str, float], now: float, liveness: Liveness = Liveness()
) -> tuple[str, ...]:
    """Nodes whose last heartbeat (or join, for a node that never beat) is too old, by name.

    A heartbeat stamped later than `now` (clock skew between hosts) counts as fresh.
    """
    grace = liveness.grace_seconds
    return tuple(sorted(node for node, last in last_heartbeats.items() if now - last > grace))


def silent_nodes(
    last_heartbeats: Mapping[str, float], liveness: Liveness = Liveness()
) -> tuple[str, ...]:
    """Nodes whose last heartbeat is more than the grace behind the newest one, by name.

    With one node, or when every node went silent at once, the newest heartbeat is one of their
    own and nobody is silent: there is no live node to tell a dead one from a stalled pipeline.
    """
    if not last_heartbeats:
        return ()
    newest, grace = max(last_heartbeats.values()), liveness.grace_seconds
    return tuple(sorted(node for node, last in last_heartbeats.items() if newest - last > grace))


def lost_replicas(replica_nodes: Mapping[str, str], lost: Collection[str]) -> tuple[str, ...]:
    """Replicas (name -> node they run on) that were on a lost node, by name."""
    return tuple(sorted(replica for replica, node in replica_nodes.items() if node in lost))


def stale_replicas(
    node: str, reported: Iterable[str], placed: Mapping[str, str]
) -> tuple[str, ...]:
    """Replicas `node` reports running that must not run there, by name.

    `placed` maps each replica that should run to the node it is placed on; a reported replica
    missing from it (lost, stopped, deleted, waiting to be placed anew) or placed on another node
    is stale.
    """
    return tuple(sorted(replica for replica in set(reported) if placed.get(replica) != node))


def check_due(last_check: float | None, now: float, period: float) -> bool:
    """Whether a liveness check is due at `now` when the last one ran at `last_check`: at most
    one per `period`. A clock that went back (`now` before the last check) makes it due."""
    return last_check is None or now - last_check >= period or now < last_check
