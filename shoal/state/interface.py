"""The state store's vocabulary: `Resource`, `Transaction` and `StateStore`.

The package docstring (`shoal.state`) explains the semantics; this module only names them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

JSONObject = Mapping[str, object]
"""A JSON object: what a resource body and a CloudEvent in JSON format are."""

Outbox = list[dict[str, object]]
"""The CloudEvents (JSON format) a function emitted, as recorded in its inbox."""


@dataclass(frozen=True)
class Resource:
    """One stored resource. `version` starts at 1 and grows by one on every write."""

    kind: str
    name: str
    version: int
    body: JSONObject
    labels: Mapping[str, str]


class Transaction(Protocol):
    """Reads and writes that commit together or not at all (see the package docstring)."""

    def get(self, kind: str, name: str) -> Resource | None:
        """The resource, or None when there is none by that kind and name."""
        ...

    def list(self, kind: str, *, label_selector: Mapping[str, str] | None = None) -> list[Resource]:
        """Resources of `kind` carrying every label in `label_selector`, ordered by name."""
        ...

    def put(
        self,
        kind: str,
        name: str,
        body: JSONObject,
        *,
        expected_version: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Resource:
        """Create or replace the body (and the labels, when given); return the stored resource.

        `expected_version`: None writes unconditionally; 0 requires that the resource does not
        exist; N requires that it is at version N. Otherwise `Conflict` is raised.
        `labels`: None keeps the current labels (none for a new resource); a mapping replaces them.
        """
        ...

    def delete(self, kind: str, name: str, *, expected_version: int | None = None) -> bool:
        """Delete; True if something was deleted. `expected_version` N (>= 1) must match, or
        `Conflict` is raised (also when the resource does not exist)."""
        ...

    def inbox_claim(self, function: str, source: str, event_id: str) -> Outbox | None:
        """Record that `function` handles event (source, id) in this transaction. None when it
        had not been handled: then run the handler and record its outbox with `outbox_put`. The
        recorded outbox when it had been (a redelivery: re-publish it, do not run the handler).
        A concurrent transaction claiming the same event makes one of the two raise `Conflict`."""
        ...

    def outbox_put(
        self, function: str, source: str, event_id: str, outbox: Sequence[JSONObject]
    ) -> None:
        """Record the outbox of the event this transaction claimed with `inbox_claim`."""
        ...

    def inbox_get(self, function: str, source: str, event_id: str) -> Outbox | None:
        """The outbox recorded when `function` handled event (source, id), or None if it has not."""
        ...

    def inbox_put(
        self, function: str, source: str, event_id: str, outbox: Sequence[JSONObject]
    ) -> None:
        """Record that `function` handled event (source, id) and emitted `outbox` (CloudEvents in
        JSON format). Raises `Conflict` if it is already recorded."""
        ...


class StateStore(Protocol):
    """A handle on one database; safe to share between threads."""

    def transaction(self) -> AbstractContextManager[Transaction]:
        """Begin a transaction: commit on normal exit, roll back when the block raises."""
        ...

    def prune_inbox(self, older_than_seconds: float) -> int:
        """Forget inbox entries recorded more than `older_than_seconds` ago; return how many."""
        ...

    def close(self) -> None:
        """Release connections. Transactions still running finish normally."""
        ...
