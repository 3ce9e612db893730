"""A small cluster written into a state store through `shoal.model`, as the functions write it:
what the API tests (tests/functions/test_api.py) and `shoal get` tests read back."""

from __future__ import annotations

from shoal.model import (
    DEPLOYMENT,
    LEASE,
    NODE,
    REPLICA,
    DeploymentRecord,
    LeaseRecord,
    NodeRecord,
    ReplicaRecord,
    RevisionRecord,
)
from shoal.state import StateStore

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z
WEB_V1 = {
    "apiVersion": "shoal.dev/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {"replicas": 3, "image": "registry.example/web:v1"},
}
WEB_V2 = {**WEB_V1, "spec": {"replicas": 3, "image": "registry.example/web:v2"}}
WORKER = {
    "apiVersion": "shoal.dev/v1",
    "kind": "Deployment",
    "metadata": {"name": "worker"},
    "spec": {"replicas": 1, "image": "registry.example/worker@sha256:abc"},
}

DEPLOYMENTS = (
    DeploymentRecord(
        name="web",
        manifest=WEB_V2,
        revision="bbbbbbbbbb",
        replicas=3,
        revisions=(
            RevisionRecord("aaaaaaaaaa", 1, WEB_V1, T0),
            RevisionRecord("bbbbbbbbbb", 2, WEB_V2, T0 + 60),
        ),
        state="progressing",
        ready=1,
        updated=2,
        available=1,
        follows="registry.example/web:v2",
    ),
    DeploymentRecord(
        name="worker", manifest=WORKER, revision="cccccccccc", replicas=1, state="complete"
    ),
)
REPLICAS = (
    ReplicaRecord(
        "web-bbbbbb-00000001",
        "web",
        "bbbbbbbbbb",
        phase="running",
        node="n1",
        ports=(31000,),
        cpu_millis=100,
        memory_mib=64,
        created_at=T0 + 60,
        ready_since=T0 + 62,
    ),
    ReplicaRecord(
        "web-bbbbbb-00000002",
        "web",
        "bbbbbbbbbb",
        phase="unschedulable",
        cpu_millis=100,
        memory_mib=64,
        created_at=T0 + 60,
        reason="0/2 nodes are available: 2 node(s) had insufficient cpu.",
    ),
    ReplicaRecord(
        "web-aaaaaa-00000003",
        "web",
        "aaaaaaaaaa",
        phase="exited",
        node="n2",
        cpu_millis=100,
        memory_mib=64,
        created_at=T0,
        restarts=2,
        exit_code=1,
        reason="exited with status 1",
    ),
    ReplicaRecord(
        "worker-cccccc-00000004",
        "worker",
        "cccccccccc",
        phase="running",
        node="n1",
        created_at=T0,
        ready_since=T0 + 1,
    ),
)
NODES = (
    NodeRecord(
        "n1",
        cpu_millis=4000,
        memory_mib=8192,
        labels={"zone": "a"},
        joined_at=T0 - 3600,
        created_at=T0 - 7200,  # its agent restarted an hour ago
        allocated_cpu_millis=100,
        allocated_memory_mib=64,
        ports=(31000,),
        agent_url="http://127.0.0.1:9001/",
        deployment_replicas={"web": 1, "worker": 1},
    ),
    NodeRecord(
        "n2",
        cpu_millis=2000,
        memory_mib=4096,
        ready=False,
        joined_at=T0 - 60,
        allocated_cpu_millis=100,
        allocated_memory_mib=64,
        deployment_replicas={"web": 1},
    ),
)


LEASES = (
    LeaseRecord("n1", T0 + 100, usage_cpu_millis=30, usage_memory_mib=20),
    LeaseRecord("n2", T0 - 10, expired=True),
)


def write_cluster(store: StateStore) -> None:
    with store.transaction() as tx:
        for deployment in DEPLOYMENTS:
            tx.put(DEPLOYMENT, deployment.name, deployment.to_body(), labels=deployment.labels())
        for replica in REPLICAS:
            tx.put(REPLICA, replica.name, replica.to_body(), labels=replica.labels())
        for node in NODES:
            tx.put(NODE, node.name, node.to_body())
        for lease in LEASES:
            tx.put(LEASE, lease.node, lease.to_body())
