"""images: roll deployments onto the image a registry just received for the tag they follow.

In: `dev.shoal.image.pushed` (`repository`, `tag`, `digest`), from a registry webhook source.
Out: a `dev.shoal.deployment.applied` per deployment that follows `repository:tag`, carrying its
document with the image pinned to the digest (`repository@digest`) and the tag recorded in the
annotation `shoal.dev/follows` (`shoal.orchestration.images`); deployments then rolls it out.

It reads Deployment records (the `follows` label selects the followers, so the work is
proportional to them, not to the cluster) and writes nothing: the pinned digest is recorded by
deployments when it takes the document, so a push of the digest a deployment already runs, or
one to a deployment being deleted, emits nothing. Two pushes of the same digest in quick
succession may both emit; the second document is the same as the first, and deployments does
nothing for a document it already has.
"""

from __future__ import annotations

from shoal import events
from shoal.model import DEPLOYMENT, DeploymentRecord
from shoal.orchestration.images import ImageReference, is_digest, parse_image, pin_image
from shoal.runtime import Context, Emit, Event, PermanentError, Subscription, function


def pushed_image(event: Event) -> tuple[str, str]:
    """The `repository:tag` pushed and its digest; a PermanentError naming a malformed field."""
    data = event.data_object()
    fields = {key: data.get(key) for key in ("repository", "tag", "digest")}
    for key, value in fields.items():
        if not isinstance(value, str) or not value:
            raise PermanentError(f"data.{key} must be a non-empty string, not {value!r:.80}")
    repository, tag, digest = (str(value) for value in fields.values())
    if parse_image(repository) != ImageReference(repository):
        raise PermanentError(f"data.repository {repository!r} must be a repository, with no tag")
    if not is_digest(digest):
        raise PermanentError(f"data.digest {digest!r} is not a digest like sha256:<64 hex>")
    return f"{repository}:{tag}", digest


@function(subscriptions=[Subscription(attributes={"type": events.IMAGE_PUSHED})])
def images(event: Event, ctx: Context) -> list[Emit]:
    """Pin the image of every deployment that follows the pushed tag to the pushed digest."""
    followed, digest = pushed_image(event)
    emits: list[Emit] = []
    for resource in ctx.state.list(DEPLOYMENT, label_selector={"follows": followed}):
        record = DeploymentRecord.from_body(resource.body)
        if record.state == "deleting" or record.image_digests.get(followed) == digest:
            continue
        data: events.DeploymentApplied = {"manifest": pin_image(record.manifest, followed, digest)}
        emits.append(Emit(events.DEPLOYMENT_APPLIED, data=data, subject=record.name))
        ctx.log.info("pinning", deployment=record.name, follows=followed, digest=digest)
    return emits
