"""The deployments function's own events: applied, rollback, scaled, deleted, and the tick.

Each takes the deployment's record, changes what the event changes and runs a whole reconcile
(`deployment_step.step`); the tick reconciles the deployments that are due (`due_on_tick`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from shoal.controllers.deployment_step import Invocation, rejected, step
from shoal.controllers.records import load_deployment, mapping, text
from shoal.model import DEPLOYMENT, DeploymentRecord, RevisionRecord
from shoal.orchestration.fields import Problem
from shoal.orchestration.images import FollowedImage, follow_image
from shoal.orchestration.reconcile import due_on_tick
from shoal.orchestration.revisions import UnknownRevision, renumber, rollback_target, with_template
from shoal.orchestration.spec import Deployment, InvalidSpec, parse_deployment, template_hash
from shoal.runtime import PermanentError

__all__ = ["on_applied", "on_deleted", "on_rollback", "on_scaled", "on_tick"]


def adopt(
    inv: Invocation, previous: DeploymentRecord | None, spec: Deployment, image: FollowedImage
) -> None:
    """Make `image.manifest` the deployment's document and take the first step towards it."""
    revision = template_hash(spec)
    history = {entry.hash: entry for entry in previous.revisions} if previous else {}
    numbers = renumber({entry.hash: entry.number for entry in history.values()}, revision)
    created_at = history[revision].created_at if revision in history else inv.now
    history[revision] = RevisionRecord(revision, numbers[revision], image.manifest, created_at)
    base = previous or DeploymentRecord(spec.name, image.manifest, revision, spec.replicas)
    changed = (
        previous is None
        or previous.state == "deleting"
        or (previous.revision, previous.replicas) != (revision, spec.replicas)
    )
    record = replace(
        base,
        manifest=image.manifest,
        revision=revision,
        replicas=spec.replicas,
        revisions=tuple(sorted(history.values(), key=lambda entry: entry.number)),
        image_digests={image.follows: image.digest} if image.follows and image.digest else {},
        follows=image.follows,
        state="progressing" if changed else base.state,
        progress_at=inv.now if changed else base.progress_at,
    )
    if changed:
        inv.ctx.log.info("deployment changed", deployment=spec.name, revision=revision)
    step(inv, record)


def on_applied(inv: Invocation) -> None:
    manifest = inv.event.data_object().get("manifest")
    document = manifest if isinstance(manifest, Mapping) else {}
    try:
        previous = load_deployment(inv.ctx.state, parse_deployment(manifest).name)
        image = follow_image(document, previous.image_digests if previous else {})
        spec = parse_deployment(image.manifest)
    except InvalidSpec as error:
        name = mapping(document, "metadata").get("name")
        inv.emits.append(rejected(name if isinstance(name, str) else None, error.problems))
        return
    adopt(inv, previous, spec, image)


def on_rollback(inv: Invocation) -> None:
    data = inv.event.data_object()
    name = text(data, "deployment")
    to_revision = data.get("revision", 0)
    if not isinstance(to_revision, int) or isinstance(to_revision, bool) or to_revision < 0:
        raise PermanentError(
            f"data.revision must be a revision number (0: the one before), not {to_revision!r:.80}"
        )
    record = load_deployment(inv.ctx.state, name)
    if record is None or record.state == "deleting":
        problem = Problem("data.deployment", f"there is no deployment {name!r} to roll back")
        inv.emits.append(rejected(name, [problem]))
        return
    numbers = {revision.hash: revision.number for revision in record.revisions}
    try:
        source = next(
            revision.manifest
            for revision in record.revisions
            if revision.hash == rollback_target(numbers, record.revision, to_revision)
        )
        manifest = with_template(record.manifest, source)
        image = follow_image(manifest, {})
        spec = parse_deployment(manifest)
    except UnknownRevision as error:
        inv.emits.append(rejected(name, [Problem("data.revision", str(error))]))
        return
    except InvalidSpec as error:
        inv.emits.append(rejected(name, error.problems))
        return
    adopt(inv, record, spec, image)


def on_scaled(inv: Invocation) -> None:
    data = inv.event.data_object()
    name = text(data, "deployment")
    replicas = data.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise PermanentError(f"data.replicas must be a whole number >= 0, not {replicas!r:.80}")
    record = load_deployment(inv.ctx.state, name)
    if record is None or record.state == "deleting":
        inv.ctx.log.warning("scaled a deployment that does not exist", deployment=name)
        return
    changed = replicas != record.replicas
    step(
        inv,
        replace(
            record,
            manifest={
                **record.manifest,
                "spec": {**mapping(record.manifest, "spec"), "replicas": replicas},
            },
            replicas=replicas,
            state="progressing" if changed else record.state,
            progress_at=inv.now if changed else record.progress_at,
        ),
    )


def on_deleted(inv: Invocation) -> None:
    name = text(inv.event.data_object(), "deployment")
    record = load_deployment(inv.ctx.state, name)
    if record is not None:
        step(inv, replace(record, state="deleting"))


def on_tick(inv: Invocation) -> None:
    records = {
        resource.name: DeploymentRecord.from_body(resource.body)
        for resource in inv.ctx.state.list(DEPLOYMENT)
    }
    schedule = [(r.name, r.replicas, r.stepped_at) for r in records.values()]
    for name in due_on_tick(schedule, now=inv.now):
        step(inv, records[name])
