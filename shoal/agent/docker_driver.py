"""The docker driver: each replica a container of the Docker Engine, through the Docker SDK.

How a spec becomes a container (name, labels, host network, limits) is `shoal.agent.docker_spec`.
This adapter runs the SDK's blocking calls in threads and keeps, per replica, the container id
and what is known of its state:

- Exits come from one stream of the engine's `die` events for this node's containers, read by
  a thread of its own and handed to the event loop; each container's exit is published once
  and never after `stop()` was asked for it. A container that dies while `start()` still waits
  for it is published when `start()` returns, so a quick exit is not lost.
- `stop()` is Docker's: SIGTERM (or the image's STOPSIGNAL) to the replica's process, SIGKILL
  after `grace_seconds`; then the container is removed. As on Kubernetes, that process is the
  container's PID 1, which the kernel gives no default signal handlers: a program that sets
  none for SIGTERM runs until the SIGKILL.
- A new driver for the same node adopts that node's containers (found by label): running ones
  are watched again, exited ones listed with their exit code, and ones created but never
  started (a start cut short) removed. Containers outlive the agent; `close()` only stops
  watching.
- Images are pulled when the engine does not have them; an image that cannot be found or
  pulled, or a command that cannot be run, is a `DriverError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from shoal.agent import docker_spec
from shoal.agent.driver import ExitFeed, ReplicaExit, ReplicaStatus, Usage
from shoal.agent.errors import DriverError
from shoal.agent.locks import KeyedLocks
from shoal.agent.spec import ReplicaSpec

__all__ = ["DockerDriver"]

DieCallback = Callable[[str, int, str], None]
"""(container id, exit code, reason)"""


class _Replica:
    def __init__(self, spec: ReplicaSpec, container_id: str, started_at: float) -> None:
        self.spec = spec
        self.container_id = container_id
        self.started_at = started_at
        self.exit_code: int | None = None
        self.reason = ""
        self.starting = True
        self.stopping = False
        self.sample: tuple[int, int] | None = None

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(self.spec, self.started_at, self.exit_code)


class DockerDriver:
    kind = "docker"

    def __init__(
        self,
        client: docker.DockerClient,
        node: str,
        *,
        grace_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.node = node
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._replicas: dict[str, _Replica] = {}
        self._locks = KeyedLocks()
        self._feed = ExitFeed()
        self._deaths: _DeathWatch | None = None

    @classmethod
    async def open(
        cls, node: str, *, base_url: str | None = None, grace_seconds: float = 10.0
    ) -> DockerDriver:
        """A driver for `node` on the engine at `base_url` (by default Docker's own settings:
        DOCKER_HOST, else /var/run/docker.sock) that adopts the node's containers."""
        try:
            client = await asyncio.to_thread(_connect, base_url)
            await asyncio.to_thread(client.ping)
        except DockerException as error:
            raise DriverError(f"no Docker engine answers ({error}); set DOCKER_HOST") from error
        driver = cls(client, node, grace_seconds=grace_seconds)
        # Watch before listing, so no death falls between the two.
        driver._deaths = await asyncio.to_thread(
            _DeathWatch, base_url, node, driver._died_threadsafe()
        )
        await asyncio.to_thread(driver._deaths.begin)
        for container in await asyncio.to_thread(_node_containers, client, node):
            await driver._adopt(container)
        return driver

    async def _adopt(self, container: Container) -> None:
        attrs: dict[str, Any] = container.attrs
        state = attrs["State"]
        spec = docker_spec.spec_from_labels(container.labels)
        started_at = docker_spec.parse_started_at(state.get("StartedAt", ""))
        if spec is None or started_at is None or spec.name in self._replicas:
            await asyncio.to_thread(_remove, container)  # never started, or not readable
            return
        replica = _Replica(spec, container.id or "", started_at)
        replica.starting = False
        if not state.get("Running"):
            replica.exit_code = int(state.get("ExitCode", 0))
        self._replicas[spec.name] = replica

    async def start(self, spec: ReplicaSpec) -> ReplicaStatus:
        async with self._locks.hold(spec.name):
            current = self._replicas.get(spec.name)
            if current is not None and current.exit_code is None:
                return current.status()
            if current is not None:
                await self._forget(current)
            return await self._run(spec)

    async def _run(self, spec: ReplicaSpec) -> ReplicaStatus:
        arguments = docker_spec.create_arguments(spec)
        container = await asyncio.to_thread(_create, self._client, arguments)
        replica = _Replica(spec, container.id or "", self._clock())
        self._replicas[spec.name] = replica
        try:
            await asyncio.to_thread(container.start)
            await asyncio.to_thread(container.reload)
        except DockerException as error:
            await self._forget(replica)
            raise DriverError(f"cannot run {spec.image} {list(spec.argv())}: {error}") from error
        started_at = docker_spec.parse_started_at(container.attrs["State"].get("StartedAt", ""))
        replica.started_at = started_at or replica.started_at
        replica.starting = False
        if replica.exit_code is not None:  # it died before start() returned
            self._publish(replica)
        return replica.status()

    def _died_threadsafe(self) -> DieCallback:
        loop = asyncio.get_running_loop()

        def died(container_id: str, code: int, reason: str) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens
                loop.call_soon_threadsafe(self._died, container_id, code, reason)

        return died

    def _died(self, container_id: str, code: int, reason: str) -> None:
        for replica in self._replicas.values():
            if replica.container_id == container_id and replica.exit_code is None:
                replica.exit_code, replica.reason = code, reason
                if not replica.starting:
                    self._publish(replica)
                return

    def _publish(self, replica: _Replica) -> None:
        if replica.stopping or replica.exit_code is None:
            return
        self._feed.publish(ReplicaExit(replica.spec.name, replica.exit_code, replica.reason))

    async def stop(self, name: str) -> None:
        async with self._locks.hold(name):
            self._feed.withdraw(name)
            replica = self._replicas.get(name)
            if replica is None:
                return
            replica.stopping = True
            if replica.exit_code is None:
                await asyncio.to_thread(self._stop_container, replica.container_id)
            await self._forget(replica)

    def _stop_container(self, container_id: str) -> None:
        with contextlib.suppress(NotFound):
            # Docker's stop timeout is whole seconds.
            timeout = max(round(self.grace_seconds), 0)
            self._client.api.stop(container_id, timeout=timeout)

    async def _forget(self, replica: _Replica) -> None:
        del self._replicas[replica.spec.name]
        await asyncio.to_thread(_remove_id, self._client, replica.container_id)

    async def list(self) -> Sequence[ReplicaStatus]:
        return [r.status() for r in self._replicas.values() if not r.starting]

    def exits(self) -> AsyncIterator[ReplicaExit]:
        return aiter(self._feed)

    async def usage(self) -> Mapping[str, Usage]:
        running = [r for r in self._replicas.values() if r.exit_code is None and not r.starting]
        usage: dict[str, Usage] = {}
        for replica in running:
            stats = await asyncio.to_thread(_stats, self._client, replica.container_id)
            if stats is None:
                continue
            cpu = stats.get("cpu_stats") or {}
            total = int((cpu.get("cpu_usage") or {}).get("total_usage", 0))
            system = int(cpu.get("system_cpu_usage", 0))
            online = int(cpu.get("online_cpus") or 1)
            millis = docker_spec.cpu_millis(total, system, replica.sample, online)
            replica.sample = (total, system)
            usage[replica.spec.name] = Usage(millis, docker_spec.memory_mib(stats))
        return usage

    async def close(self) -> None:
        """Stop watching; the containers keep running for the next driver to adopt."""
        if self._deaths is not None:
            self._deaths.end()
        await asyncio.to_thread(self._client.close)


class _DeathWatch:
    """A thread reading the engine's `die` events for one node's containers; its own client, so
    its long-lived request never waits behind the driver's calls."""

    def __init__(self, base_url: str | None, node: str, died: DieCallback) -> None:
        self._client = _connect(base_url)
        self._node = node
        self._died = died
        self._stream: Any = None
        self._thread = threading.Thread(target=self._read, name=f"docker-deaths-{node}")
        self._thread.daemon = True

    def begin(self) -> None:
        filters = {**docker_spec.node_filter(self._node), "type": ["container"], "event": ["die"]}
        self._stream = self._client.api.events(filters=filters, decode=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(DockerException, OSError, ValueError, AttributeError):
            for event in self._stream:
                actor = event.get("Actor") or {}
                code = int((actor.get("Attributes") or {}).get("exitCode", "0"))
                container_id = str(actor.get("ID", ""))
                self._died(container_id, code, self._reason(container_id, code))

    def _reason(self, container_id: str, code: int) -> str:
        """Why it exited: the die event has only the code; the container's state says more."""
        try:
            state = self._client.api.inspect_container(container_id)["State"]
        except DockerException:
            return docker_spec.exit_reason(code)
        oom_killed, error = bool(state.get("OOMKilled")), str(state.get("Error") or "")
        return docker_spec.exit_reason(code, oom_killed=oom_killed, error=error)

    def end(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
        self._thread.join(timeout=5.0)
        self._client.close()


def _connect(base_url: str | None) -> docker.DockerClient:
    return docker.from_env() if base_url is None else docker.DockerClient(base_url=base_url)


def _node_containers(client: docker.DockerClient, node: str) -> list[Container]:
    return list(client.containers.list(all=True, filters=docker_spec.node_filter(node)))


def _create(client: docker.DockerClient, arguments: dict[str, Any]) -> Container:
    _remove_id(client, arguments["name"])  # one a start cut short left behind
    try:
        try:
            return client.containers.create(**arguments)
        except ImageNotFound:
            client.images.pull(arguments["image"])
            return client.containers.create(**arguments)
    except DockerException as error:
        raise DriverError(f"cannot create a container of {arguments['image']}: {error}") from error


def _remove(container: Container) -> None:
    with contextlib.suppress(NotFound):
        container.remove(force=True)


def _remove_id(client: docker.DockerClient, name_or_id: str) -> None:
    with contextlib.suppress(NotFound):
        client.api.remove_container(name_or_id, force=True)


def _stats(client: docker.DockerClient, container_id: str) -> dict[str, Any] | None:
    try:
        stats: dict[str, Any] = client.api.stats(container_id, stream=False, one_shot=True)
    except NotFound:
        return None
    return stats
