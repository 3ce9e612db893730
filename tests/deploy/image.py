"""Building the project's Dockerfile on the test engine and running containers of the image.

The base is the engine's Debian Python 3.11 image (tests/docker_engine.py), given as the
Dockerfile's PYTHON_IMAGE: no registry is reachable here. The build runs on the host's network
(the engine has no bridge) so its pip reaches the package index.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import BuildError
from docker.models.containers import Container

from tests.docker_engine import Engine

__all__ = ["TEST_LABEL", "build_image", "post_until_answered", "running"]

TEST_LABEL = "dev.shoal.test"
TAG = "shoal-test/shoal:latest"


def build_image(engine: Engine, context: Path) -> str:
    """Build the Dockerfile in `context`; its tag. The build log is in the error if it fails."""
    client = engine.client()
    try:
        client.images.build(
            path=str(context),
            tag=TAG,
            buildargs={"PYTHON_IMAGE": engine.base_image},
            network_mode="host",
            rm=True,
            forcerm=True,
        )
        # The image the tag named before, and its layers: each build of a changed tree leaves
        # one behind otherwise (about 100 MB each).
        client.images.prune(filters={"dangling": True})
    except BuildError as error:
        log = "".join(str(line.get("stream", line.get("error", ""))) for line in error.build_log)
        raise AssertionError(f"docker build failed: {error}\n{log[-4000:]}") from error
    finally:
        client.close()
    return TAG


@contextmanager
def running(
    engine: Engine,
    image: str,
    command: Sequence[str] | None,
    env: Mapping[str, str],
    **options: Any,
) -> Iterator[Container]:
    """A container of the image on the host's network (and docker-py's other `options`),
    removed afterwards."""
    client = engine.client()
    container = client.containers.run(
        image,
        command=list(command) if command is not None else None,
        environment=dict(env),
        network_mode="host",
        labels={TEST_LABEL: "image"},
        detach=True,
        **options,
    )
    try:
        yield container
    finally:
        container.remove(force=True)
        client.close()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def post_until_answered(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    container: Container,
    timeout: float = 60.0,
) -> Answer:
    """POST once the server listens (it may still be starting); AssertionError with the
    container's log when it does not answer within `timeout` seconds or exits."""
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read())
        except (urllib.error.URLError, ConnectionError):
            container.reload()
            if container.status == "exited" or time.monotonic() > deadline:
                log = container.logs().decode(errors="replace")[-4000:]
                raise AssertionError(f"{url} did not answer ({container.status}):\n{log}") from None
            time.sleep(0.2)
