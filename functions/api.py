"""api: the read-only HTTP API behind `shoal get`: Deployments, Replicas and Nodes as JSON.

    GET /                         {"function": "api", "resources": [...]}  (also readiness)
    GET /deployments              {"apiVersion": "shoal.dev/v1", "kind": "DeploymentList", "items"}
    GET /deployments/<name>       one Deployment
    GET /replicas[?deployment=D&node=N]   ReplicaList (both filters optional, combined with AND)
    GET /replicas/<name>          one Replica
    GET /nodes, GET /nodes/<name> NodeList, one Node

An `@http_function` rather than a CloudEvents function, so `shoal get` reads the same way from
`shoal up` and from Knative (where this is one more Service, without a Trigger). Each request
reads one consistent snapshot of the state store and writes nothing.

The JSON is a stable interface, documented in docs/cli.md: fields may be added, never renamed
or removed. Items are ordered by name; times are RFC 3339 in UTC (null when unknown); resources
are `{"cpu_millis", "memory_mib"}`. Errors are `{"error": "<what went wrong>"}` with status 404
(no such name or path), 400 (an unknown query parameter) or 405 (a method other than GET/HEAD).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import flask

from shoal.model import (
    DEPLOYMENT,
    LEASE,
    NODE,
    REPLICA,
    DeploymentRecord,
    LeaseRecord,
    NodeRecord,
    ReplicaRecord,
)
from shoal.runtime import StateReader, http_function

API_VERSION = "shoal.dev/v1"
JSON = dict[str, object]


def _time(seconds: float | None) -> str | None:
    if not seconds:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _resources(cpu_millis: int, memory_mib: int) -> JSON:
    return {"cpu_millis": cpu_millis, "memory_mib": memory_mib}


def deployment_view(body: Mapping[str, object], _companion: Mapping[str, object] | None) -> JSON:
    record = DeploymentRecord.from_body(body)
    numbers = {revision.hash: revision.number for revision in record.revisions}
    return {
        "name": record.name,
        "replicas": record.replicas,
        "ready": record.ready,
        "updated": record.updated,
        "available": record.available,
        "revision": record.revision,
        "revision_number": numbers.get(record.revision),
        "state": record.state,
        "image": _image_of(record.manifest),
        "follows": record.follows,
        "revisions": [
            {
                "number": revision.number,
                "revision": revision.hash,
                "image": _image_of(revision.manifest),
                "created_at": _time(revision.created_at),
            }
            for revision in record.revisions
        ],
        "manifest": dict(record.manifest),
    }


def _image_of(manifest: Mapping[str, object]) -> str | None:
    spec = manifest.get("spec")
    image = spec.get("image") if isinstance(spec, Mapping) else None
    return image if isinstance(image, str) else None


def replica_view(body: Mapping[str, object], _companion: Mapping[str, object] | None) -> JSON:
    record = ReplicaRecord.from_body(body)
    return {
        "name": record.name,
        "deployment": record.deployment,
        "revision": record.revision,
        "node": record.node,
        "phase": record.phase,
        "ports": list(record.ports),
        "resources": _resources(record.cpu_millis, record.memory_mib),
        "restarts": record.restarts,
        "exit_code": record.exit_code,
        "reason": record.reason,
        "created_at": _time(record.created_at),
        "ready_since": _time(record.ready_since),
        "unready_reason": record.unready_reason,
    }


def node_view(body: Mapping[str, object], lease_body: Mapping[str, object] | None) -> JSON:
    """The Node with its Lease's heartbeat time and usage (none before its first heartbeat)."""
    record = NodeRecord.from_body(body)
    lease = None if lease_body is None else LeaseRecord.from_body(lease_body)
    return {
        "name": record.name,
        "ready": record.ready,
        "capacity": _resources(record.cpu_millis, record.memory_mib),
        "allocated": _resources(record.allocated_cpu_millis, record.allocated_memory_mib),
        "usage": _resources(
            lease.usage_cpu_millis if lease else 0, lease.usage_memory_mib if lease else 0
        ),
        "replicas": sum(record.deployment_replicas.values()),
        "ports": list(record.ports),
        "labels": dict(record.labels),
        "created_at": _time(record.registered_at),
        "joined_at": _time(record.joined_at),
        "last_heartbeat": _time(lease.renewed_at if lease else None),
        "agent_url": record.agent_url,
    }


@dataclass(frozen=True, slots=True)
class Collection:
    """One resource path: the stored kind, how an item reads, the label filters it takes."""

    kind: str
    view: Callable[[Mapping[str, object], Mapping[str, object] | None], JSON]
    filters: tuple[str, ...] = ()
    companion: str | None = None
    """A kind named like the item whose body the view also takes (a Node's Lease)."""


COLLECTIONS = {
    "deployments": Collection(DEPLOYMENT, deployment_view),
    "replicas": Collection(REPLICA, replica_view, filters=("deployment", "node")),
    "nodes": Collection(NODE, node_view, companion=LEASE),
}
READ_METHODS = ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: JSON
    headers: Mapping[str, str] = field(default_factory=dict)


def _error(status: int, message: str) -> Answer:
    return Answer(status, {"error": message})


def answer(method: str, path: str, query: Mapping[str, str], state: StateReader) -> Answer:
    """The answer to one request; only reads `state`."""
    if method not in READ_METHODS:
        allowed = ", ".join(READ_METHODS)
        return Answer(405, {"error": f"the API is read-only: use {allowed}"}, {"Allow": allowed})
    parts = [part for part in path.split("/") if part]
    if not parts:
        return Answer(200, {"function": "api", "resources": sorted(COLLECTIONS)})
    collection = COLLECTIONS.get(parts[0])
    if collection is None or len(parts) > 2:
        known = ", ".join(f"/{name}" for name in COLLECTIONS)
        return _error(404, f"no such path {path!r}: the API serves {known}")
    accepted = collection.filters if len(parts) == 1 else ()
    unknown = sorted(set(query) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "no query parameters"
        return _error(400, f"unknown query parameter(s) {', '.join(unknown)}; {path} takes {takes}")
    if len(parts) == 2:
        resource = state.get(collection.kind, parts[1])
        if resource is None:
            return _error(404, f"{collection.kind.lower()} {parts[1]!r} not found")
        companion = None
        if collection.companion is not None:
            found = state.get(collection.companion, parts[1])
            companion = None if found is None else found.body
        return Answer(200, collection.view(resource.body, companion))
    selector = {name: query[name] for name in collection.filters if name in query}
    companions = (
        {r.name: r.body for r in state.list(collection.companion)} if collection.companion else {}
    )
    items = [
        collection.view(r.body, companions.get(r.name))
        for r in state.list(collection.kind, label_selector=selector)
    ]
    return Answer(
        200, {"apiVersion": API_VERSION, "kind": f"{collection.kind}List", "items": items}
    )


@http_function
def api(request: flask.Request, state: StateReader) -> flask.Response:
    """The read-only API behind `shoal get`."""
    result = answer(request.method, request.path, request.args.to_dict(), state)
    body = json.dumps(result.body, indent=2, ensure_ascii=False) + "\n"
    return flask.Response(body, result.status, result.headers, mimetype="application/json")
