"""The whole `shoal deploy`: render the overlay, check the cluster, apply.

`--dry-run` renders and prints the objects (stdout, as YAML: pipe it anywhere), and, only when
kubectl has a context whose cluster answers, has kubectl validate them client-side
(`kubectl apply --dry-run=client`): with no cluster it says so and stops there, successfully.
Without `--dry-run`, every preflight problem is printed; errors stop the deploy before
anything is applied, warnings do not. Messages go to stderr.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from shoal.deploy.errors import DeployError
from shoal.deploy.kubectl import Kubectl
from shoal.deploy.overlay import deployable, overlay_path, render
from shoal.deploy.preflight import (
    NO_CONTEXT,
    NO_KUBECTL,
    check_cluster,
    current_context,
    preflight,
)
from shoal.deploy.rendered import DEFAULT_NAMESPACE, Rendered


@dataclass(frozen=True, slots=True)
class DeploySettings:
    manifests: Path
    overlay: str = "dev"
    image: str | None = None
    dry_run: bool = False


def deploy(kubectl: Kubectl, settings: DeploySettings, out: TextIO, err: TextIO) -> int:
    """Run the deploy; the exit status. Raises DeployError when it cannot start."""
    if not kubectl.available():
        raise DeployError(str(NO_KUBECTL))
    overlay = overlay_path(settings.manifests, settings.overlay)
    with deployable(overlay, settings.image) as root:
        text = render(kubectl, root)
        if settings.dry_run:
            out.write(text)
            return _client_dry_run(kubectl, root, err)
        rendered = Rendered.from_yaml(text)
        problems = preflight(kubectl, rendered)
        for problem in problems:
            print(problem, file=err)
        if any(problem.blocking for problem in problems):
            print(f"shoal deploy: nothing applied ({overlay})", file=err)
            return 1
        done = kubectl.run("apply", "-k", str(root))
    out.write(done.stdout)
    err.write(done.stderr)
    if not done.ok:
        print(f"shoal deploy: kubectl apply failed: {done.reason}", file=err)
        return 1
    namespace = _namespace(rendered)
    print(
        f"shoal deploy: applied {overlay}. Watch it come up: kubectl -n {namespace} get "
        "ksvc,broker,trigger (docs/deploy-knative.md)",
        file=err,
    )
    return 0


def _client_dry_run(kubectl: Kubectl, root: Path, err: TextIO) -> int:
    context = current_context(kubectl)
    unreachable = NO_CONTEXT if context is None else check_cluster(kubectl, context)
    if unreachable is not None:
        print(f"shoal deploy: no cluster to validate against ({unreachable.what});", file=err)
        print("  skipped `kubectl apply --dry-run=client`", file=err)
        return 0
    done = kubectl.run("apply", "--dry-run=client", "-k", str(root))
    err.write(done.stdout + done.stderr)
    return 0 if done.ok else 1


def _namespace(rendered: Rendered) -> str:
    for broker in rendered.brokers:
        metadata = broker.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("namespace"), str):
            return str(metadata["namespace"])
    return DEFAULT_NAMESPACE
