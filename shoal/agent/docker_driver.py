"""The docker driver: each replica a container of the Docker Engine, through the Docker SDK.

How a spec becomes a container (name, labels, host network, limits) is `shoal.agent.docker_spec`.
This adapter runs the SDK's blocking calls in threads and keeps, per replica, the container id
and what is known of its state:

- Exits come from the engine's `die` events for this node's containers
  (`shoal.agent.docker_events`), handed to the event loop; each container's exit is published
  once and never after `stop()` was asked for it. A container that dies while `start()` still waits
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
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from shoal.agent import docker_cgroups, docker_spec, hostports
from shoal.agent.docker_events import DeathWatch, DieCallback, connect
from shoal.agent.docker_exec import ContainerCommands
from shoal.agent.docker_logs import follow_logs
from shoal.agent.driver import (
    CommandResult,
    ExitFeed,
    ReplicaExit,
    ReplicaStatus,
    Usage,
)
from shoal.agent.errors import DriverError
from shoal.agent.locks import KeyedLocks
from shoal.agent.spec import ReplicaSpec

__all__ = ["DockerDriver"]


class _Replica:
    def __init__(self, spec: ReplicaSpec, container_id: str, started_at: float) -> None:
        self.spec = spec
        self.container_id = container_id
        self.started_at = started_at
        self.exit_code: int | None = None
        self.reason = ""
        self.starting = True
        self.stopping = False
        self.cgroup: docker_cgroups.CgroupFiles | None = None
        self.sample: tuple[float, int] | None = None
        """(monotonic seconds, cpu ns) when usage() last measured it."""

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
        self._deaths: DeathWatch | None = None
        self._unclaimed: dict[str, tuple[int, str]] | None = None
        """While open() adopts: deaths of containers not adopted yet, by container id."""
        self._commands = ContainerCommands(client)

    @classmethod
    async def open(
        cls, node: str, *, base_url: str | None = None, grace_seconds: float = 10.0
    ) -> DockerDriver:
        """A driver for `node` on the engine at `base_url` (by default Docker's own settings:
        DOCKER_HOST, else /var/run/docker.sock) that adopts the node's containers."""
        try:
            client = await asyncio.to_thread(connect, base_url)
            await asyncio.to_thread(client.ping)
        except DockerException as error:
            raise DriverError(
                f"no Docker engine answers ({error}); set DOCKER_HOST (for example "
                "unix:///var/run/docker.sock, or the socket scripts/docker-engine.sh prints)"
            ) from error
        driver = cls(client, node, grace_seconds=grace_seconds)
        # Watch before listing, so no death falls between the two; a death that arrives before
        # its container is adopted waits in _unclaimed.
        driver._unclaimed = {}
        driver._deaths = await asyncio.to_thread(
            DeathWatch, base_url, node, driver._died_threadsafe()
        )
        await asyncio.to_thread(driver._deaths.begin)
        for container in await asyncio.to_thread(_node_containers, client, node):
            await driver._adopt(container)
        driver._unclaimed = None
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
        self._replicas[spec.name] = replica
        if not state.get("Running"):
            replica.exit_code = int(state.get("ExitCode", 0))
            return
        unclaimed = (self._unclaimed or {}).pop(replica.container_id, None)
        if unclaimed is not None:
            self._died(replica.container_id, *unclaimed)
            return
        replica.cgroup = await asyncio.to_thread(docker_cgroups.find, int(state["Pid"]))

    async def start(self, spec: ReplicaSpec) -> ReplicaStatus:
        async with self._locks.hold(spec.name):
            current = self._replicas.get(spec.name)
            if current is not None and current.exit_code is None:
                return current.status()
            if current is not None:
                await self._forget(current)
            return await self._run(spec)

    async def _run(self, spec: ReplicaSpec) -> ReplicaStatus:
        # Containers use the host's network: a port held on the host is held for them too.
        hostports.require_free(spec.name, (port.port for port in spec.ports))
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
        state = container.attrs["State"]
        replica.started_at = docker_spec.parse_started_at(state["StartedAt"]) or replica.started_at
        if state.get("Running"):
            replica.cgroup = await asyncio.to_thread(docker_cgroups.find, int(state["Pid"]))
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
        if self._unclaimed is not None:
            self._unclaimed[container_id] = (code, reason)

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

    async def output(self, name: str, lines: int) -> str | None:
        replica = self._replicas.get(name)
        if replica is None:
            return None
        if lines <= 0:
            return ""
        try:
            raw = await asyncio.to_thread(self._client.api.logs, replica.container_id, tail=lines)
        except NotFound:
            return None  # removed meanwhile
        return bytes(raw).decode("utf-8", "replace").rstrip("\n")

    def follow_output(self, name: str, lines: int) -> AsyncGenerator[str, None] | None:
        replica = self._replicas.get(name)
        return None if replica is None else follow_logs(self._client, replica.container_id, lines)

    def exits(self) -> AsyncIterator[ReplicaExit]:
        return aiter(self._feed)

    async def usage(self) -> Mapping[str, Usage]:
        running = [r for r in self._replicas.values() if r.exit_code is None and not r.starting]
        counters = await asyncio.to_thread(_measure, self._client, running)
        now = time.monotonic()
        usage: dict[str, Usage] = {}
        for replica, measured in zip(running, counters, strict=True):
            if measured is None:
                continue  # gone meanwhile: its exit is on its way
            millis = docker_spec.cpu_millis(measured.cpu_ns, now, replica.sample)
            replica.sample = (now, measured.cpu_ns)
            usage[replica.spec.name] = Usage(millis, measured.memory_bytes / 2**20)
        return usage

    async def run_in(self, name: str, argv: Sequence[str], timeout: float) -> CommandResult:
        """`docker exec` of `argv` (its variables substituted) in the replica's container."""
        replica = self._replicas.get(name)
        if replica is None or replica.exit_code is not None or replica.starting:
            raise DriverError(f"replica {name} does not run here")
        argv = replica.spec.substituted(argv)
        return await self._commands.run(name, replica.container_id, argv, timeout)

    async def close(self) -> None:
        """Stop watching; the containers keep running for the next driver to adopt."""
        if self._deaths is not None:
            await asyncio.to_thread(self._deaths.end)
        await asyncio.to_thread(self._client.close)


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


def _measure(
    client: docker.DockerClient, replicas: Sequence[_Replica]
) -> list[docker_cgroups.Counters | None]:
    """Each replica's counters from its cgroup, else (slowly) from the engine's stats."""
    found: list[docker_cgroups.Counters | None] = []
    for replica in replicas:
        counters = docker_cgroups.read(replica.cgroup) if replica.cgroup else None
        if counters is None:
            stats = _stats(client, replica.container_id)
            counters = docker_cgroups.from_stats(stats) if stats is not None else None
        found.append(counters)
    return found
