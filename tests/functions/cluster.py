"""A scripted cluster around the deployments and images functions, for their tests.

The functions run through the real runtime (`Invoker.handle` on binary-mode requests, so the
inbox, the outbox and deterministic ids are exercised) over a SQLite store. Everything else is
played by the harness, one event at a time and in order: a scheduler that places requested
replicas round-robin and writes the Replica records as the real one does, and agents that start
what is scheduled on their node and stop what they are asked to. `settle()` runs until nothing
is left to deliver; `drop` loses events on the way, as a broker without a dead-letter sink can.
After every delivery the replicas are observed, for `rollout.fenceposts_hold`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.deployments import deployments
from functions.images import images
from shoal import events
from shoal.model import DEPLOYMENT, REPLICA, DeploymentRecord, ReplicaRecord
from shoal.orchestration.rollout import Observation, Replica
from shoal.orchestration.spec import parse_deployment, template_hash
from shoal.runtime.invoke import Invoker
from shoal.runtime.wire import binary_message
from shoal.state import StateStore

START = datetime(2026, 1, 1, tzinfo=UTC)
CloudEvent = dict[str, Any]
FOR_DEPLOYMENTS = {
    events.DEPLOYMENT_APPLIED,
    events.DEPLOYMENT_DELETED,
    events.DEPLOYMENT_SCALED,
    events.DEPLOYMENT_ROLLBACK,
    events.REPLICA_STARTED,
    events.REPLICA_READY,
    events.REPLICA_UNREADY,
    events.REPLICA_EXITED,
    events.REPLICA_STOPPED,
    events.REPLICA_LOST,
    events.PING,
}


def manifest(
    image: str = "127.0.0.1:5000/web:v1", replicas: int = 3, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "shoal.dev/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "image": image,
            "command": ["httpd", "-f", "-p", "$PORT"],
            "resources": {"cpu": "100m", "memory": "64Mi"},
            "ports": [{"name": "http"}],
            **spec,
        },
    }


def revision_of(document: dict[str, Any]) -> str:
    return template_hash(parse_deployment(document))


class Recorder:
    """The functions' K_SINK: keeps what they publish."""

    def __init__(self) -> None:
        self.published: list[Mapping[str, object]] = []

    def publish(self, outbox: Sequence[Mapping[str, object]]) -> None:
        self.published.extend(outbox)


class Cluster:
    def __init__(self, store: StateStore, nodes: Sequence[str] = ("n1", "n2", "n3")) -> None:
        self.store = store
        self.nodes = list(nodes)
        self.now = START
        self.sink = Recorder()
        self.invokers = {
            "deployments": Invoker(deployments.shoal, store, self.sink, clock=lambda: self.now),
            "images": Invoker(images.shoal, store, self.sink, clock=lambda: self.now),
        }
        self.pending: deque[CloudEvent] = deque()
        self.emitted: list[CloudEvent] = []
        self.observations: list[Observation] = []
        self.drop: Callable[[CloudEvent], bool] = lambda event: False
        self.auto_start = True
        self.auto_ready = True
        """Agents report a replica with a readiness probe ready right after it starts."""
        self.watch: str | None = "web"
        """The deployment `observe` records (None: none, for large ones)."""
        self._ids = itertools.count(1)
        self._next_node = itertools.cycle(self.nodes)

    # --- time and events from outside -----------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def event(
        self, type_: str, data: Mapping[str, object] | None, *, source: str = "/tests", **extra: str
    ) -> CloudEvent:
        event: CloudEvent = {
            "specversion": "1.0",
            "id": f"e{next(self._ids)}",
            "source": source,
            "type": type_,
            **extra,
        }
        if data is not None:
            event["datacontenttype"] = "application/json"
            event["data"] = dict(data)
        return event

    def send(
        self, type_: str, data: Mapping[str, object] | None = None, **extra: str
    ) -> list[CloudEvent]:
        """Deliver one event to the function that takes it; what it emits is queued and returned."""
        return self.deliver(self.event(type_, data, **extra))

    def apply(self, manifest: Mapping[str, object]) -> list[CloudEvent]:
        return self.send(events.DEPLOYMENT_APPLIED, {"manifest": manifest})

    def tick(self) -> list[CloudEvent]:
        return self.send(
            events.PING, None, source="/apis/v1/namespaces/shoal/pingsources/deployments-reconcile"
        )

    def deliver(self, event: CloudEvent) -> list[CloudEvent]:
        function = "images" if event["type"] == events.IMAGE_PUSHED else "deployments"
        headers, body = binary_message(event)
        before = len(self.sink.published)
        response = self.invokers[function].handle(headers, body)
        assert response.status == 204, response.body
        emitted = [dict(e) for e in self.sink.published[before:]]
        self.emitted.extend(emitted)
        self.pending.extend(emitted)
        self.observe()
        return emitted

    # --- the rest of the cluster, scripted ------------------------------------------------

    def settle(self, limit: int = 100_000) -> None:
        """Deliver everything pending, and what that causes, until nothing is left."""
        for _ in range(limit):
            if not self.pending:
                return
            event = self.pending.popleft()
            if not self.drop(event):
                self.route(event)
        raise AssertionError(f"still busy after {limit} events")

    def route(self, event: CloudEvent) -> None:
        kind = event["type"]
        data: dict[str, Any] = event.get("data") or {}
        if kind == events.REPLICA_REQUESTED:
            self.schedule(data["deployment"], data["replicas"], data["template"])
        elif kind == events.REPLICA_STOP_REQUESTED:
            for entry in data["replicas"]:
                assert event[events.NODE_EXTENSION] == entry["node"]
                self.agent_report(
                    events.REPLICA_STOPPED, entry["deployment"], entry["replica"], entry["node"]
                )
        elif kind == events.REPLICA_SCHEDULED:
            for entry in data["replicas"] if self.auto_start else ():
                named = (entry["deployment"], entry["replica"], entry["node"])
                self.agent_report(events.REPLICA_STARTED, *named)
                if "readiness" in entry and self.auto_ready:
                    self.agent_report(events.REPLICA_READY, *named, at=self.now.timestamp())
        elif kind in FOR_DEPLOYMENTS:
            self.deliver(event)

    def schedule(
        self, deployment: str, names: Iterable[str], template: Mapping[str, object]
    ) -> None:
        """The scheduler: place what has no node, and send every listed replica to its node."""
        for name in names:
            with self.store.transaction() as tx:
                resource = tx.get(REPLICA, name)
                if resource is None:
                    continue
                replica = ReplicaRecord.from_body(resource.body)
                if replica.node is None:
                    replica = replace(replica, node=next(self._next_node), phase="scheduled")
                    tx.put(REPLICA, name, replica.to_body(), labels=replica.labels())
            node = str(replica.node)
            entry = {"deployment": deployment, "replica": name, "node": node, **template}
            self.pending.append(
                self.event(
                    events.REPLICA_SCHEDULED,
                    {"replicas": [entry]},
                    source="/shoal/scheduler",
                    subject=name,
                    **{events.NODE_EXTENSION: node},
                )
            )
            self.observe()

    def agent_report(
        self, type_: str, deployment: object, replica: object, node: object, **data: object
    ) -> None:
        entry = {"deployment": deployment, "replica": replica, "node": node, **data}
        self.pending.append(
            self.event(type_, {"replicas": [entry]}, source=f"/shoal/agents/{node}")
        )

    def exit(self, replica: ReplicaRecord, exit_code: int = 1) -> list[CloudEvent]:
        entry = {
            "deployment": replica.deployment,
            "replica": replica.name,
            "node": replica.node,
            "exit_code": exit_code,
            "reason": "Error",
        }
        return self.news(events.REPLICA_EXITED, entry, source=f"/shoal/agents/{replica.node}")

    def news(
        self, type_: str, *entries: Mapping[str, object], source: str = "/tests"
    ) -> list[CloudEvent]:
        """Deliver one replica event listing `entries` to deployments."""
        return self.send(type_, {"replicas": [dict(entry) for entry in entries]}, source=source)

    # --- reading the state ----------------------------------------------------------------

    def replicas(self, deployment: str = "web") -> list[ReplicaRecord]:
        with self.store.transaction() as tx:
            found = tx.list(REPLICA, label_selector={"deployment": deployment})
        return [ReplicaRecord.from_body(resource.body) for resource in found]

    def deployment(self, name: str = "web") -> DeploymentRecord | None:
        with self.store.transaction() as tx:
            resource = tx.get(DEPLOYMENT, name)
        return None if resource is None else DeploymentRecord.from_body(resource.body)

    def observe(self) -> None:
        if self.watch is None:
            return
        seen = tuple(
            Replica(
                replica.name,
                replica.revision,
                "running"
                if replica.phase == "running"
                else "stopping"
                if replica.phase == "stopping"
                else "pending",
                replica.ready_since if replica.phase == "running" else None,
            )
            for replica in self.replicas(self.watch)
        )
        self.observations.append(Observation(self.now.timestamp(), seen))

    def listed(self, type_: str, emitted: Iterable[CloudEvent] | None = None) -> list[Any]:
        """The entries every event of `type_` lists (`data.replicas`)."""
        return [
            entry for event in self.of_type(type_, emitted) for entry in event["data"]["replicas"]
        ]

    def of_type(self, type_: str, emitted: Iterable[CloudEvent] | None = None) -> list[CloudEvent]:
        return [
            event
            for event in (self.emitted if emitted is None else emitted)
            if event["type"] == type_
        ]
