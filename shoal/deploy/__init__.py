"""`shoal deploy`: apply a kustomize overlay of manifests/ to a Knative cluster with kubectl.

- `kubectl`: the one external program, behind a narrow interface (tests give a fake).
- `overlay`: finding the overlay, setting the image on top of it, rendering it.
- `rendered`: what the rendered objects need from a cluster (CRDs, Broker classes, Secrets, images).
- `preflight`: checks of those needs against the cluster, as problems that say what to do.
- `deploy`: the whole command: render, check, apply (or print, with `--dry-run`).
"""
