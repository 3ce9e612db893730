"""The Docker engine and base image the tests that run containers use (scripts/docker-engine.sh
makes both; `./dev test` runs it first).

Without an engine such tests skip with a message saying how to get one, except under CI
(`CI=true`), where a missing engine is a failure: CI must have installed and started it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

from shoal.agent.docker_spec import node_filter
from shoal.agent.spec import ReplicaSpec

__all__ = ["Engine", "require_engine"]

DEFAULT_HOST = "unix:///run/shoal-docker/docker.sock"
DEFAULT_BASE_IMAGE = "shoal-base/python:3.11-bookworm"


@dataclass(frozen=True)
class Engine:
    host: str
    base_image: str
    """An image with Debian's Python 3.11 (`python3`), `sh` and coreutils."""

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=300)

    def on_node(self, spec: ReplicaSpec, node: str) -> ReplicaSpec:
        """The spec, from the base image and for `node`."""
        return dataclasses.replace(spec, image=self.base_image, node=node)

    def node_containers(self, node: str) -> list[dict[str, Any]]:
        """What the engine says of the docker driver's containers for `node`."""
        client = self.client()
        try:
            found = client.containers.list(all=True, filters=node_filter(node))
            return [container.attrs for container in found]
        finally:
            client.close()

    def remove_node_containers(self, node: str) -> None:
        client = self.client()
        try:
            for container in client.containers.list(all=True, filters=node_filter(node)):
                container.remove(force=True)
        finally:
            client.close()


@cache
def _probe(host: str, base_image: str) -> str | None:
    """None when the engine answers and has the base image, else what is missing."""
    try:
        client = docker.DockerClient(base_url=host, timeout=10)
    except DockerException as error:
        return f"no Docker engine at {host} ({error})"
    try:
        client.ping()
        client.images.get(base_image)
    except ImageNotFound:
        return f"the engine at {host} has no image {base_image}"
    except DockerException as error:
        return f"no Docker engine answers at {host} ({error})"
    finally:
        client.close()
    return None


def require_engine() -> Engine:
    """The engine, or a skip (a failure under CI) saying how to start it."""
    # The test edge: where the engine is comes from the environment, as for the docker CLI.
    engine = Engine(
        host=os.environ.get("DOCKER_HOST", DEFAULT_HOST),
        base_image=os.environ.get("SHOAL_BASE_IMAGE", DEFAULT_BASE_IMAGE),
    )
    missing = _probe(engine.host, engine.base_image)
    if missing is not None:
        message = f"{missing}: run scripts/docker-engine.sh (as root) to install and start one"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return engine
