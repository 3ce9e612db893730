"""The call channel between the broker's process and its delivery process (channel.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from local_broker.channel import Channel, ChannelClosed, RemoteError
from local_broker.stamping import TTLExhaustedError


class UnpicklableError(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} and {second}")


class Side:
    def __init__(self) -> None:
        self.heard: list[tuple[str, tuple[Any, ...]]] = []

    async def serve(self, method: str, args: tuple[Any, ...]) -> object:
        if method == "add":
            return sum(args)
        if method == "slow":
            await asyncio.sleep(args[0])
            return "slept"
        if method == "ttl":
            raise TTLExhaustedError("e1", 0)
        if method == "odd":
            raise UnpicklableError("this", "that")
        raise ValueError(f"no such call {method!r}")

    def hear(self, method: str, args: tuple[Any, ...]) -> None:
        self.heard.append((method, args))


@asynccontextmanager
async def pair() -> AsyncIterator[tuple[Channel, Channel, Side]]:
    left_sock, right_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    left_side, right_side = Side(), Side()
    left = await Channel.over(left_sock, left_side.serve, left_side.hear)
    right = await Channel.over(right_sock, right_side.serve, right_side.hear)
    try:
        yield left, right, right_side
    finally:
        await left.close()
        await right.close()


async def test_calls_run_on_the_other_side_and_answer_in_any_order() -> None:
    async with pair() as (left, _right, _side):
        slow = asyncio.ensure_future(left.call("slow", 0.2))
        assert await left.call("add", 1, 2, 3) == 6
        assert not slow.done()  # a slow call holds up no other
        assert await slow == "slept"


async def test_tells_are_heard_in_order_without_an_answer() -> None:
    async with pair() as (left, _right, side):
        left.tell("heads", {("default", "default"): 7})
        left.tell("heads", {("default", "default"): 9})
        assert await left.call("add", 1) == 1  # sent after the tells: heard after them
        assert side.heard == [
            ("heads", ({("default", "default"): 7},)),
            ("heads", ({("default", "default"): 9},)),
        ]


async def test_an_exception_comes_back_as_itself_or_named() -> None:
    async with pair() as (left, _right, _side):
        with pytest.raises(TTLExhaustedError) as ttl:
            await left.call("ttl")
        assert ttl.value.ttl == 0
        assert "'e1'" in str(ttl.value)
        with pytest.raises(RemoteError, match="UnpicklableError: this and that"):
            await left.call("odd")
        with pytest.raises(ValueError, match="no such call 'nothing'"):
            await left.call("nothing")
        assert await left.call("add", 2) == 2  # the channel goes on after errors


async def test_calls_in_flight_fail_when_the_other_side_goes_away() -> None:
    async with pair() as (left, right, _side):
        slow = asyncio.ensure_future(left.call("slow", 10.0))
        await asyncio.sleep(0.05)
        await right.close()
        with pytest.raises(ChannelClosed):
            await slow
        await asyncio.wait_for(left.closed, 5.0)
        with pytest.raises(ChannelClosed):
            await left.call("add", 1)
        left.tell("heads", {})  # lost, and no error
