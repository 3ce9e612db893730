"""Revision history as the Kubernetes Deployment controller keeps it, by template hash.

(https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-back-a-deployment
and #revision-history-limit.) Every distinct pod template is a revision, named by its hash and
numbered. Applying a template seen before re-uses its revision and moves it to the top of the
numbering, as a rollback does: `kubectl rollout history` then lists it as the newest.
`revisionHistoryLimit` old revisions are kept besides the current one, plus any revision that
still has replicas; older ones are forgotten and can no longer be rolled back to.

A rollback (`kubectl rollout undo [--to-revision=N]`) takes the earlier revision's pod template
and keeps the rest of the current document (replicas, strategy, constraints), so it never
rescales. The `shoal.dev/follows` annotation goes with the template: it says where the image
came from.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from shoal.orchestration.images import FOLLOWS_ANNOTATION

__all__ = [
    "TEMPLATE_FIELDS",
    "UnknownRevision",
    "kept_revisions",
    "renumber",
    "rollback_target",
    "with_template",
]

TEMPLATE_FIELDS = (
    "image",
    "command",
    "env",
    "resources",
    "ports",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
)
"""The `spec` fields of the pod template: what `template_hash` covers."""


class UnknownRevision(LookupError):  # noqa: N818 - reads as the condition it is
    """No revision to roll back to; the message says which ones exist."""


def renumber(numbers: Mapping[str, int], current: str) -> dict[str, int]:
    """The numbers (hash -> revision number) once `current` is the deployment's template: it
    keeps its number when it is already the newest, and gets the next one otherwise."""
    top = max(numbers.values(), default=0)
    if top and numbers.get(current) == top:
        return dict(numbers)
    return {**numbers, current: top + 1}


def kept_revisions(
    numbers: Mapping[str, int], current: str, *, in_use: Collection[str], history_limit: int
) -> set[str]:
    """The revisions to keep: the current one, those with replicas, and the `history_limit`
    newest of the others."""
    old = sorted(
        (name for name in numbers if name != current and name not in in_use),
        key=lambda name: numbers[name],
        reverse=True,
    )
    return {current, *(name for name in in_use if name in numbers), *old[:history_limit]}


def rollback_target(numbers: Mapping[str, int], current: str, to_revision: int) -> str:
    """The hash of revision `to_revision`; 0 means the newest one before the current."""
    known = ", ".join(str(number) for number in sorted(numbers.values())) or "none"
    if to_revision == 0:
        older = [name for name in numbers if numbers[name] < numbers.get(current, 0)]
        if not older:
            raise UnknownRevision(
                f"there is no revision before the current one ({numbers.get(current)}) to roll "
                f"back to; revisions kept: {known}"
            )
        return max(older, key=lambda name: numbers[name])
    for name, number in numbers.items():
        if number == to_revision:
            return name
    raise UnknownRevision(
        f"revision {to_revision} is not in the history; revisions kept: {known} "
        "(revisionHistoryLimit sets how many old ones are kept)"
    )


def with_template(
    manifest: Mapping[str, object], source: Mapping[str, object]
) -> dict[str, object]:
    """`manifest` with the pod template (and `shoal.dev/follows`) of the document `source`."""
    spec = dict(_mapping(manifest, "spec"))
    source_spec = _mapping(source, "spec")
    for key in TEMPLATE_FIELDS:
        spec.pop(key, None)
        if key in source_spec:
            spec[key] = source_spec[key]
    metadata = dict(_mapping(manifest, "metadata"))
    annotations = dict(_mapping(metadata, "annotations"))
    annotations.pop(FOLLOWS_ANNOTATION, None)
    followed = _mapping(_mapping(source, "metadata"), "annotations").get(FOLLOWS_ANNOTATION)
    if followed is not None:
        annotations[FOLLOWS_ANNOTATION] = followed
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return {**manifest, "metadata": metadata, "spec": spec}


def _mapping(value: Mapping[str, object], key: str) -> Mapping[str, object]:
    inner = value.get(key)
    return inner if isinstance(inner, Mapping) else {}
