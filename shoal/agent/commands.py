"""Running a short command for a replica (an exec probe of the exec driver), bounded in time.

The command runs in a session of its own; its exit, within the timeout or not, is the verdict,
and then its whole process group is killed, so neither the command at its timeout nor a child
it left behind keeps running. What it printed (stdout and stderr together) is kept up to its
last `OUTPUT_KEPT` characters.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from shoal.agent.driver import OUTPUT_KEPT, CommandResult

__all__ = ["NOT_FOUND_EXIT_CODE", "run_command"]

NOT_FOUND_EXIT_CODE = 127
"""What a shell answers for a command it cannot find, and what is reported for one here."""
READ_GRACE_SECONDS = 0.5
"""How long the output may still take to arrive once the command has exited."""


async def run_command(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float
) -> CommandResult:
    loop = asyncio.get_running_loop()
    collector = _Collector(loop)
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: collector,
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as error:  # no such program, not executable, no folder
        return CommandResult(NOT_FOUND_EXIT_CODE, f"cannot run {argv[0]!r}: {error.strerror}")
    try:
        # Not `Process.wait()`: before Python 3.12 it also waits for the output to close, which
        # a child the command left behind may hold open.
        await asyncio.wait_for(asyncio.shield(collector.exited), timeout)
    except TimeoutError:
        return CommandResult(None)
    finally:
        # The command's exit is the verdict: a child it left behind goes with its process group,
        # and so does the command at its timeout (or when the check is cancelled).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(transport.get_pid(), signal.SIGKILL)
        await asyncio.wait([collector.closed], timeout=READ_GRACE_SECONDS)
        transport.close()
    text = bytes(collector.output).decode("utf-8", "replace")
    return CommandResult(transport.get_returncode(), text[-OUTPUT_KEPT:])


class _Collector(asyncio.SubprocessProtocol):
    """Keeps the end of what the command prints; `exited` and `closed` settle on its exit and
    once its output is closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.output = bytearray()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.output += data.encode() if isinstance(data, str) else data
        del self.output[: -OUTPUT_KEPT * 4]  # UTF-8 takes at most 4 bytes a character

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
