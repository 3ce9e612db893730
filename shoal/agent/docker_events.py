"""The docker driver's exits: the engine's `die` events for one node's containers, read by a
thread of its own and handed on as (container id, exit code, reason).

The thread has its own client, so its long-lived request never waits behind the driver's
calls. When the stream breaks (the engine restarted, a socket error) it connects again, asking
for events since the last one it saw (the Engine API's `since`), so no exit falls in between;
an event seen twice is harmless, since a replica's exit is taken once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
from docker.errors import DockerException

from shoal.agent import docker_spec
from shoal.agent.exits import OUTPUT_LINES, exit_reason

__all__ = ["DeathWatch", "DieCallback", "connect"]

DieCallback = Callable[[str, int, str], None]
"""(container id, exit code, reason)"""
RECONNECT_SECONDS = 1.0
"""How many of a container's last lines of output its exit's reason quotes."""


def connect(base_url: str | None) -> docker.DockerClient:
    """A client of the engine at `base_url`, or where Docker's own settings say (DOCKER_HOST)."""
    return docker.from_env() if base_url is None else docker.DockerClient(base_url=base_url)


class DeathWatch:
    def __init__(self, base_url: str | None, node: str, died: DieCallback) -> None:
        self._client = connect(base_url)
        self._filters = {**docker_spec.node_filter(node), "type": ["container"], "event": ["die"]}
        self._died = died
        self._stream: Any = None
        self._since = int(time.time())
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"docker-deaths-{node}")
        self._thread.daemon = True

    def begin(self) -> None:
        """Subscribe (blocking), then read in the thread: deaths from now on are all seen."""
        self._stream = self._subscribe()
        self._thread.start()

    def _subscribe(self) -> Iterator[dict[str, Any]]:
        stream: Iterator[dict[str, Any]] = self._client.api.events(
            since=self._since, filters=self._filters, decode=True
        )
        return stream

    def _run(self) -> None:
        while not self._closed.is_set():
            with contextlib.suppress(DockerException, OSError, ValueError, AttributeError):
                if self._stream is None:
                    self._stream = self._subscribe()
                for event in self._stream:
                    self._since = max(self._since, int(event.get("time", 0)))
                    self._take(event)
            self._stream = None
            self._closed.wait(RECONNECT_SECONDS)

    def _take(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        code = int((actor.get("Attributes") or {}).get("exitCode", "0"))
        container_id = str(actor.get("ID", ""))
        self._died(container_id, code, self._reason(container_id, code))

    def _reason(self, container_id: str, code: int) -> str:
        """Why it exited: the die event has only the code; the container's state and the end
        of its output say more."""
        try:
            state = self._client.api.inspect_container(container_id)["State"]
            output = self._client.api.logs(container_id, tail=OUTPUT_LINES)
        except DockerException:
            return exit_reason(code)
        return exit_reason(
            code,
            oom_killed=bool(state.get("OOMKilled")),
            error=str(state.get("Error") or ""),
            output=bytes(output).decode(errors="replace"),
        )

    def end(self) -> None:
        """Stop reading (blocking until the thread ends, at most a few seconds)."""
        self._closed.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        self._thread.join(timeout=5.0)
        self._client.close()
