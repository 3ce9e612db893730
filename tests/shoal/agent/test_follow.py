"""Following an output file: its tail, then what is appended, until the replica is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

from shoal.agent.follow import follow_file

FAST = 0.01


async def take(pieces: AsyncGenerator[str, None], until: str) -> str:
    """What `pieces` gives until the text so far ends with `until` (at most 5 s)."""
    seen = ""
    async with asyncio.timeout(5):
        async for piece in pieces:
            seen += piece
            if seen.endswith(until):
                return seen
    raise AssertionError(f"ended with {seen!r}, before {until!r}")


async def test_the_tail_then_what_is_appended_until_done(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    path.write_text("one\ntwo\nthree\npartial")
    finished = False
    pieces = follow_file(path, 2, 1 << 20, done=lambda: finished, poll_seconds=FAST)

    assert await take(pieces, "partial") == "three\npartial"
    with path.open("a") as file:
        file.write(" line\nfour\n")
    assert await take(pieces, "four\n") == " line\nfour\n"
    with path.open("a") as file:
        file.write("last words\n")
    finished = True  # written before the end: still read
    assert [piece async for piece in pieces] == ["last words\n"]


async def test_a_file_that_goes_ends_the_follow(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    path.write_text("hello\n")
    pieces = follow_file(path, 10, 1 << 20, done=lambda: False, poll_seconds=FAST)

    assert await anext(pieces) == "hello\n"
    path.unlink()  # the replica was stopped: its folder removed
    assert [piece async for piece in pieces] == []


async def test_a_character_split_between_reads_stays_whole(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    path.write_bytes(b"")
    finished = False
    pieces = follow_file(path, 10, 1 << 20, done=lambda: finished, poll_seconds=FAST)
    euro = "€".encode()
    with path.open("ab") as file:
        file.write(b"price: " + euro[:1])
    assert await take(pieces, "price: ") == "price: "
    with path.open("ab") as file:
        file.write(euro[1:] + b"\n")
    finished = True
    assert "".join([piece async for piece in pieces]) == "€\n"


async def test_no_file_yet_and_done_gives_nothing(tmp_path: Path) -> None:
    pieces = follow_file(tmp_path / "missing.log", 10, 1 << 20, done=lambda: True)
    assert [piece async for piece in pieces] == []
