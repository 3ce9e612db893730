"""The `Deployment` kind: the user's document, its revisions and the rollout status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

DEPLOYMENT = "Deployment"

RolloutState = Literal["progressing", "complete", "stalled", "deleting"]


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    """One revision: the template hash that names it and the document that produced it."""

    hash: str
    number: int
    manifest: Mapping[str, object]
    created_at: float

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> RevisionRecord:
        return cls(
            hash=str(body["hash"]),
            number=int(cast(int, body["number"])),
            manifest=dict(cast(Mapping[str, object], body["manifest"])),
            created_at=float(cast(float, body["created_at"])),
        )


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    name: str
    manifest: Mapping[str, object]
    """The user's document as applied (image possibly pinned to a digest by `images`)."""
    revision: str
    """The template hash of the current revision."""
    replicas: int
    revisions: tuple[RevisionRecord, ...] = ()
    state: RolloutState = "progressing"
    progress_at: float = 0.0
    ready: int = 0
    updated: int = 0
    available: int = 0
    image_digests: Mapping[str, str] = field(default_factory=dict)
    """Repository:tag -> digest pinned by `images` (so the same push twice does nothing)."""
    follows: str | None = None
    """The `repository:tag` whose pushes re-pin the image (label `follows`, which `images`
    selects by); None when the image is pinned to a digest by the user."""
    blocked: bool = False
    """The last step left work waiting for replicas to start or stop (old replicas to replace,
    new ones beyond the surge room): replica events then run the next step without delay."""
    stepped_at: float = 0.0
    """When the last whole reconcile step ran."""

    def labels(self) -> dict[str, str]:
        return {} if self.follows is None else {"follows": self.follows}

    def to_body(self) -> dict[str, object]:
        body = asdict(self)
        body["manifest"] = dict(self.manifest)
        body["revisions"] = [asdict(revision) for revision in self.revisions]
        body["image_digests"] = dict(self.image_digests)
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, object]) -> DeploymentRecord:
        values: dict[str, Any] = {k: v for k, v in body.items() if k in _FIELDS}
        values["manifest"] = dict(cast(Mapping[str, object], values.get("manifest", {})))
        values["revisions"] = tuple(
            RevisionRecord.from_body(r)
            for r in cast(list[Mapping[str, object]], values.get("revisions", []))
        )
        values["image_digests"] = dict(cast(Mapping[str, str], values.get("image_digests", {})))
        return cls(**values)


_FIELDS = frozenset(DeploymentRecord.__dataclass_fields__)
