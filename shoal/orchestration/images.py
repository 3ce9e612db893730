"""Image references and the tags deployments follow: pinning an image to a pushed digest.

A Deployment whose `spec.image` names a tag (`127.0.0.1:5000/web:v1`, or no tag, meaning
`latest`) *follows* that `repository:tag`: when the registry reports a push of it, `images`
rewrites the image to the pushed digest (`127.0.0.1:5000/web@sha256:...`) and records the tag in
the annotation `shoal.dev/follows`, so the pinned document still says what it follows and a push
of the next digest re-pins it. An image a user pins to a digest without that annotation follows
nothing. References are compared as written: `web` and `docker.io/library/web` are different
repositories to Shoal, so the registry's webhook must name repositories as the specs do.

Re-applying the document as written (the tag, not the digest) keeps the pinned digest: the
deployment already runs what that tag named at the last push, so this is no change and starts no
rollout (`follow_image` with the known pins).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shoal.orchestration.fields import Problem
from shoal.orchestration.spec import InvalidSpec

__all__ = [
    "DEFAULT_TAG",
    "FOLLOWS_ANNOTATION",
    "FollowedImage",
    "ImageReference",
    "follow_image",
    "is_digest",
    "parse_image",
    "pin_image",
]

FOLLOWS_ANNOTATION = "shoal.dev/follows"
DEFAULT_TAG = "latest"
# OCI image spec, "Digests": algorithm ":" encoded.
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True)
class ImageReference:
    """`repository[:tag][@digest]`; the registry host (with its port) is part of the repository."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def followed(self) -> str | None:
        """The `repository:tag` this reference follows; None when it is pinned to a digest."""
        return None if self.digest else f"{self.repository}:{self.tag or DEFAULT_TAG}"


def is_digest(value: str) -> bool:
    return _DIGEST.fullmatch(value) is not None


def parse_image(reference: str) -> ImageReference:
    """Split a reference. A `:` after the last `/` starts the tag; one before it is a port."""
    name, at, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return ImageReference(name[:colon], name[colon + 1 :], digest if at else None)
    return ImageReference(name, None, digest if at else None)


@dataclass(frozen=True)
class FollowedImage:
    """A document with its image resolved: `follows` is the tag it follows (None: none),
    `digest` the digest it is pinned to (None: it runs the tag as the registry has it now)."""

    manifest: Mapping[str, object]
    follows: str | None
    digest: str | None


def follow_image(manifest: Mapping[str, object], pins: Mapping[str, str]) -> FollowedImage:
    """Resolve a valid Deployment document's image against `pins` (`repository:tag` -> the digest
    it was last pinned to). Raises `InvalidSpec` when `shoal.dev/follows` contradicts the image."""
    image = parse_image(str(_mapping(manifest, "spec")["image"]))
    annotated = _mapping(_mapping(manifest, "metadata"), "annotations").get(FOLLOWS_ANNOTATION)
    if image.digest is None:
        followed = image.followed
        digest = pins.get(followed) if followed else None
        if followed is None or digest is None:
            return FollowedImage(manifest, followed, None)
        return FollowedImage(pin_image(manifest, followed, digest), followed, digest)
    if annotated is None:
        return FollowedImage(manifest, None, image.digest)
    followed = parse_image(str(annotated)).followed
    if followed is None or parse_image(followed).repository != image.repository:
        path = f"metadata.annotations.{FOLLOWS_ANNOTATION}"
        message = (
            f"is {annotated!r}, but spec.image pins {image.repository!r}; write the tag it "
            f"follows, e.g. {image.repository}:{DEFAULT_TAG}, or remove the annotation"
        )
        raise InvalidSpec([Problem(path, message)])
    return FollowedImage(manifest, followed, image.digest)


def pin_image(manifest: Mapping[str, object], followed: str, digest: str) -> dict[str, object]:
    """A copy of `manifest` running `digest` of the `repository:tag` it follows, annotated."""
    metadata = dict(_mapping(manifest, "metadata"))
    metadata["annotations"] = {**_mapping(metadata, "annotations"), FOLLOWS_ANNOTATION: followed}
    spec = dict(_mapping(manifest, "spec"))
    spec["image"] = f"{parse_image(followed).repository}@{digest}"
    return {**manifest, "metadata": metadata, "spec": spec}


def _mapping(value: Mapping[str, object], key: str) -> Mapping[str, object]:
    inner = value.get(key)
    return inner if isinstance(inner, Mapping) else {}
