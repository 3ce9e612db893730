"""Typed access to the `shoal.model` records through one transaction, and event data checks.

Data a function can never act on raises `PermanentError` (answered 422, dead-lettered).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shoal.model import DEPLOYMENT, REPLICA, DeploymentRecord, ReplicaRecord
from shoal.runtime import PermanentError
from shoal.state import Transaction

__all__ = [
    "entries",
    "load_deployment",
    "load_replica",
    "mapping",
    "save_deployment",
    "save_replica",
    "text",
]


def load_deployment(tx: Transaction, name: str) -> DeploymentRecord | None:
    resource = tx.get(DEPLOYMENT, name)
    return None if resource is None else DeploymentRecord.from_body(resource.body)


def save_deployment(tx: Transaction, record: DeploymentRecord) -> None:
    tx.put(DEPLOYMENT, record.name, record.to_body(), labels=record.labels())


def load_replica(tx: Transaction, name: str) -> ReplicaRecord | None:
    resource = tx.get(REPLICA, name)
    return None if resource is None else ReplicaRecord.from_body(resource.body)


def save_replica(tx: Transaction, replica: ReplicaRecord) -> None:
    tx.put(REPLICA, replica.name, replica.to_body(), labels=replica.labels())


def text(data: Mapping[str, object], key: str, where: str = "data") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PermanentError(f"{where}.{key} must be a non-empty string, not {value!r:.80}")
    return value


def mapping(value: Mapping[str, object], key: str) -> Mapping[str, object]:
    inner = value.get(key)
    return inner if isinstance(inner, Mapping) else {}


def entries(
    data: Mapping[str, object], required: Sequence[str] = ("deployment", "replica", "node")
) -> list[Mapping[str, object]]:
    """The `replicas` list of a replica event (`shoal.events`), each entry checked to have the
    `required` non-empty strings."""
    listed = data.get("replicas")
    if not isinstance(listed, list) or not listed:
        raise PermanentError(f"data.replicas must be a non-empty list, not {listed!r:.80}")
    checked: list[Mapping[str, object]] = []
    for index, entry in enumerate(listed):
        if not isinstance(entry, Mapping):
            raise PermanentError(f"data.replicas[{index}] must be an object, not {entry!r:.80}")
        for key in required:
            text(entry, key, f"data.replicas[{index}]")
        checked.append(entry)
    return checked
