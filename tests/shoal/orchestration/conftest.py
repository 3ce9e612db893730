"""Fixtures for the pure orchestration logic: a valid Deployment document to start from."""

from __future__ import annotations

import copy
from typing import Any

import pytest

# The example from DESIGN.md, the shape a user writes.
EXAMPLE_DOCUMENT: dict[str, Any] = {
    "apiVersion": "shoal.dev/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 3,
        "image": "127.0.0.1:5000/web:v1",
        "command": ["httpd", "-f", "-p", "$PORT"],
        "resources": {"cpu": "100m", "memory": "64Mi"},
        "ports": [{"name": "http"}],
        "strategy": {"maxSurge": "25%", "maxUnavailable": "25%"},
        "autoscale": {"minReplicas": 1, "maxReplicas": 10, "targetCPUUtilization": 70},
        "constraints": {"nodeSelector": {"zone": "a"}},
    },
}


@pytest.fixture
def document() -> dict[str, Any]:
    """A fresh copy of the DESIGN.md example, free to modify."""
    return copy.deepcopy(EXAMPLE_DOCUMENT)
