"""Following a container's output through the Engine API (`shoal logs --follow`).

The engine's log stream is a blocking iterator, read by a thread of its own that hands each
piece to the event loop. It ends when the container stops, or when the follower goes: the
stream is closed under the thread, which then ends too.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import threading
from collections.abc import AsyncGenerator

import docker
from docker.errors import NotFound


async def follow_logs(
    client: docker.DockerClient, container_id: str, lines: int
) -> AsyncGenerator[str, None]:
    """The engine's log stream (`follow`), read by a thread of its own: it ends when the
    container stops, or when the follower goes (the stream is closed under the thread)."""
    try:
        stream = await asyncio.to_thread(
            client.api.logs, container_id, stream=True, follow=True, tail=lines
        )
    except NotFound:
        return
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def pump() -> None:
        try:
            for chunk in stream:
                loop.call_soon_threadsafe(chunks.put_nowait, bytes(chunk))
        except Exception:  # closed under us, or the engine went away: either way, the end
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody reads
                loop.call_soon_threadsafe(chunks.put_nowait, None)

    threading.Thread(target=pump, name=f"logs {container_id[:12]}", daemon=True).start()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    try:
        while (chunk := await chunks.get()) is not None:
            if text := decoder.decode(chunk):
                yield text
    finally:
        await asyncio.to_thread(stream.close)
