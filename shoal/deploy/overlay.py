"""The kustomization `shoal deploy` applies: an overlay of manifests/, with the image set.

With `--image REF` a temporary kustomization goes on top of the overlay and sets the image
every function runs (kustomize's `images` transformer, on the repository `shoal manifests`
writes). Nothing in manifests/ is edited. kustomize takes only relative paths to other
kustomizations, hence the relative path from the temporary folder to the overlay.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from shoal.deploy.errors import DeployError
from shoal.deploy.kubectl import Kubectl
from shoal.manifests.render import IMAGE_REPOSITORY


def overlay_path(manifests: Path, name: str) -> Path:
    """manifests/overlays/<name>, which must hold a kustomization."""
    overlays = manifests / "overlays"
    path = overlays / name
    if (path / "kustomization.yaml").is_file():
        return path
    known = sorted(p.name for p in overlays.glob("*") if (p / "kustomization.yaml").is_file())
    choices = f"one of: {', '.join(known)}" if known else f"none exists under {overlays}"
    raise DeployError(
        f"no overlay {name!r} ({path}/kustomization.yaml): choose {choices}; run from the "
        "project root or pass --manifests DIR"
    )


def split_image(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of `REPOSITORY[:TAG][@DIGEST]`; absent parts are ""."""
    name, _at, digest = image.partition("@")
    head, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        return head, tag, digest
    return name, "", digest


def image_override(image: str) -> dict[str, str]:
    """kustomize's `images` entry that makes the functions run `image`."""
    repository, tag, digest = split_image(image)
    if not repository:
        raise DeployError(f"--image {image!r}: write REGISTRY/REPOSITORY[:TAG][@DIGEST]")
    override = {"name": IMAGE_REPOSITORY, "newName": repository}
    if digest:
        override["digest"] = digest
    elif tag:
        override["newTag"] = tag
    return override


@contextmanager
def deployable(overlay: Path, image: str | None) -> Iterator[Path]:
    """The folder to render and apply: `overlay` itself, or a temporary one setting `image`."""
    if image is None:
        yield overlay
        return
    with tempfile.TemporaryDirectory(prefix="shoal-deploy-") as folder:
        root = Path(folder)
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(overlay.resolve(), root.resolve())],
            "images": [image_override(image)],
        }
        (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
        yield root


def render(kubectl: Kubectl, root: Path) -> str:
    """`kubectl kustomize root`: the objects that would be applied, as YAML."""
    done = kubectl.run("kustomize", str(root))
    if not done.ok:
        raise DeployError(
            f"kustomize cannot render {root}: {done.reason}; `kubectl kustomize {root}` shows "
            "the whole error. Run `shoal manifests` if manifests/base is missing or stale; "
            "kubectl must be 1.21 or later (older ones embed a kustomize without `patches`)"
        )
    return done.stdout
