"""`shoal deploy`: apply an overlay of manifests/ to the Knative cluster of kubectl's context."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from shoal.deploy.deploy import DeploySettings, deploy
from shoal.deploy.errors import DeployError
from shoal.deploy.kubectl import KubectlProgram

DEFAULT_MANIFESTS = Path("manifests")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "deploy",
        help="deploy the functions to a Knative cluster (kubectl apply -k)",
        description="Render manifests/overlays/OVERLAY with kustomize, check the cluster of "
        "kubectl's current context (Knative installed, the Broker class, the state Secret, the "
        "image), then kubectl apply it. See docs/deploy-knative.md.",
    )
    parser.add_argument(
        "--overlay", default="dev", help="dev (in-memory Broker) or production (Kafka Broker)"
    )
    parser.add_argument(
        "--image",
        default=os.environ.get("SHOAL_IMAGE") or None,
        metavar="REF",
        help="the image the functions run, REGISTRY/REPOSITORY:TAG (default $SHOAL_IMAGE, "
        "else the overlay's)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the objects instead; validate them with kubectl apply --dry-run=client "
        "when a cluster answers",
    )
    parser.add_argument("--manifests", type=Path, default=DEFAULT_MANIFESTS, metavar="DIR")
    parser.add_argument("--kubectl", default="kubectl", metavar="PATH", help="the kubectl to run")
    parser.set_defaults(run=run_deploy)


def run_deploy(args: argparse.Namespace) -> int:
    settings = DeploySettings(args.manifests, args.overlay, args.image, args.dry_run)
    try:
        return deploy(KubectlProgram(args.kubectl), settings, sys.stdout, sys.stderr)
    except DeployError as error:
        print(f"shoal deploy: {error}", file=sys.stderr)
        return 1
