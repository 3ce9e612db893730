"""Commands in a replica's container (the docker driver's `run_in`, for exec probes).

The engine cannot cancel an exec, so one still running at its timeout is left to finish on a
daemon thread of its own, and until it has, the next command for that replica fails at once
(`CommandResult(None, "the previous check's command is still running")`) rather than starting
another: at most one thread per replica. Daemon threads, because a thread of the loop's default
executor stuck in an exec would hold up the driver's other calls, and one of any executor would
keep the agent's process from exiting (Python joins them at exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

import docker
from docker.errors import APIError, NotFound

from shoal.agent.driver import OUTPUT_KEPT, CommandResult
from shoal.agent.errors import DriverError

__all__ = ["ContainerCommands"]

STILL_RUNNING = "the previous check's command is still running"


class ContainerCommands:
    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client
        self._running: set[str] = set()
        """Replicas with a `docker exec` in flight."""

    async def run(
        self, name: str, container_id: str, argv: Sequence[str], timeout: float
    ) -> CommandResult:
        """`argv` in the container of replica `name`; DriverError when the engine refuses."""
        if name in self._running:
            return CommandResult(None, STILL_RUNNING)
        self._running.add(name)
        running = _in_daemon_thread(_exec, self._client, container_id, list(argv))

        def finished(done: asyncio.Future[CommandResult]) -> None:
            self._running.discard(name)
            if not done.cancelled():
                done.exception()  # retrieved, so one that ended after its timeout logs nothing

        running.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.shield(running), timeout)
        except TimeoutError:
            return CommandResult(None)


def _in_daemon_thread(
    call: Callable[..., CommandResult], *args: Any
) -> asyncio.Future[CommandResult]:
    """`call(*args)` on a daemon thread of its own, its outcome in the returned future."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[CommandResult] = loop.create_future()

    def deliver(setter: Callable[[Any], None], value: object) -> None:
        if not future.done():  # the caller gave up (timeout, cancel): nobody is waiting
            setter(value)

    def run() -> None:
        try:
            result = call(*args)
        except BaseException as error:  # handed to whoever awaits the future
            outcome: tuple[Callable[[Any], None], object] = (future.set_exception, error)
        else:
            outcome = (future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=run, name="docker-exec", daemon=True).start()
    return future


def _exec(client: docker.DockerClient, container_id: str, argv: list[str]) -> CommandResult:
    try:
        created = client.api.exec_create(container_id, argv, stdout=True, stderr=True)
        printed: bytes = client.api.exec_start(created["Id"])
        exit_code = client.api.exec_inspect(created["Id"]).get("ExitCode")
    except (NotFound, APIError) as error:
        raise DriverError(f"cannot exec in the container: {error}") from error
    text = printed.decode("utf-8", "replace")[-OUTPUT_KEPT:]
    return CommandResult(exit_code if isinstance(exit_code, int) else None, text)
