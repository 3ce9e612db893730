"""Calls between the broker's process and its delivery process, over one Unix socket.

Each message is a 4-byte big-endian length and a pickle of `(kind, number, method, args)`:

- `call`: the other side runs `serve(method, args)` and sends an `answer` with the same number:
  `(True, result)`, or `(False, exception)`, raised here (as RemoteError naming its type when
  the exception does not pickle);
- `tell`: the other side runs `hear(method, args)` at once, on its loop, and answers nothing
  (commit notices: one per group commit, so they must be cheap).

Both ends are processes of the same broker from the same sources, so pickle is safe here.
When the other side goes away, every call in flight fails with ChannelClosed and `closed`
resolves.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import struct
from collections.abc import Awaitable, Callable
from typing import Any

Serve = Callable[[str, tuple[Any, ...]], Awaitable[Any]]
Hear = Callable[[str, tuple[Any, ...]], None]
_LENGTH = struct.Struct(">I")
MAX_MESSAGE_BYTES = 1 << 30


class ChannelClosed(ConnectionError):  # noqa: N818
    """The other process is gone (or the channel was closed here)."""


class RemoteError(Exception):
    """The other side's `serve` raised an exception that does not pickle; the message names
    its type."""


class Channel:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, serve: Serve, hear: Hear
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._serve = serve
        self._hear = hear
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._numbers = 0
        self._serving: set[asyncio.Task[None]] = set()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reading = asyncio.create_task(self._read(), name="channel reader")

    @classmethod
    async def over(cls, sock: Any, serve: Serve, hear: Hear) -> Channel:
        """A channel over a connected Unix socket (one end of a socketpair)."""
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_MESSAGE_BYTES)
        return cls(reader, writer, serve, hear)

    async def call(self, method: str, *args: Any) -> Any:
        """Run `method` on the other side; its result, or RemoteError / ChannelClosed."""
        if self.closed.done():
            raise ChannelClosed("the other process is gone")
        self._numbers += 1
        number = self._numbers
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[number] = answer
        self._send("call", number, method, args)
        try:
            return await answer
        finally:
            self._calls.pop(number, None)

    def tell(self, method: str, *args: Any) -> None:
        """Have the other side hear `method`; nothing comes back. Lost if the side is gone."""
        if not self.closed.done():
            self._send("tell", 0, method, args)

    def _send(self, kind: str, number: int, method: str, args: Any) -> None:
        body = pickle.dumps((kind, number, method, args), protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_LENGTH.pack(len(body)) + body)

    async def _read(self) -> None:
        try:
            while True:
                (length,) = _LENGTH.unpack(await self._reader.readexactly(_LENGTH.size))
                kind, number, method, args = pickle.loads(await self._reader.readexactly(length))
                if kind == "tell":
                    self._hear(method, args)
                elif kind == "call":
                    task = asyncio.create_task(self._answer(number, method, args))
                    self._serving.add(task)
                    task.add_done_callback(self._serving.discard)
                else:
                    self._settle(number, args)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the other process is gone
        finally:
            self._close_calls()

    def _settle(self, number: int, outcome: tuple[bool, Any]) -> None:
        answer = self._calls.get(number)
        if answer is None or answer.done():
            return  # its caller was cancelled
        ok, value = outcome
        if ok:
            answer.set_result(value)
        else:
            answer.set_exception(value)

    async def _answer(self, number: int, method: str, args: tuple[Any, ...]) -> None:
        try:
            outcome: tuple[bool, Any] = (True, await self._serve(method, args))
        except Exception as error:  # the caller hears of it; this side goes on
            outcome = (False, _portable(error))
        if not self.closed.done():
            self._send("answer", number, "", outcome)

    def _close_calls(self) -> None:
        for answer in self._calls.values():
            if not answer.done():
                answer.set_exception(ChannelClosed("the other process is gone"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def close(self) -> None:
        """Stop reading and close the socket; calls in flight fail with ChannelClosed."""
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading
        for task in list(self._serving):
            task.cancel()
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


def _portable(error: Exception) -> Exception:
    """`error` if it survives a pickle round trip, else a RemoteError naming it."""
    try:
        copy = pickle.loads(pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        copy = None
    if isinstance(copy, Exception) and str(copy) == str(error):
        return error
    return RemoteError(f"{type(error).__name__}: {error}")
