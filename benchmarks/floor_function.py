"""The least a durable CloudEvent function can do per invocation, written by hand.

`benchmarks/runtime.py` serves `floor` next to the bare and the Shoal functions: the
same guarantees as the trivial Shoal function (the event's (source, id) recorded against
redelivery, one state read, the emitted event recorded with them in one SQLite transaction,
then published to K_SINK before the answer), with none of the runtime around them: no
validation of the CloudEvent, no error handling, no logging, one shared connection behind a
lock, the publish a pre-formatted request on a raw kept-alive socket. Not for use: it is the
lower bound on what such an invocation costs in this server mode, to set the runtime's
overhead against.

`floor_asgi` is the same invocation as an `async` function for functions-framework's ASGI
mode (`--asgi`, uvicorn): the transaction runs on the event loop (uncontended, so the lock is
taken at once), the publish goes out on a pool of kept-alive asyncio connections.

Switches, for `benchmarks/runtime_parts.py`, which takes the floor apart: FLOOR_DB (a file, or
":memory:"), FLOOR_STORE=0 (no transaction at all) or FLOOR_STORE=dict (the same records in
Python dicts under the same lock: no sqlite3 call, nothing durable), FLOOR_PUBLISH=0 (nothing
sent to K_SINK).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import threading
from typing import Protocol
from urllib.parse import urlsplit

import functions_framework.aio

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inbox (source TEXT, id TEXT, PRIMARY KEY (source, id))"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS outbox (source TEXT, id TEXT, events TEXT)",
    "CREATE TABLE IF NOT EXISTS resources (kind TEXT, name TEXT, body TEXT,"
    " PRIMARY KEY (kind, name))",
)


class _Headers(Protocol):
    def __getitem__(self, name: str, /) -> str: ...


class _Request(Protocol):
    """What `floor` reads of a request: functions-framework passes a `flask.Request`,
    `runtime_threads.py` a stand-in."""

    @property
    def method(self) -> str: ...

    @property
    def headers(self) -> _Headers: ...


def _open(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    for statement in _SCHEMA:
        connection.execute(statement)
    return connection


_db = _open(os.environ.get("FLOOR_DB", ":memory:"))
_writer = threading.Lock()
_sink = urlsplit(os.environ.get("K_SINK", "http://127.0.0.1:9/"))
_head = (
    f"POST {_sink.path or '/'} HTTP/1.1\r\nHost: {_sink.netloc}\r\n"
    "Content-Type: application/cloudevents+json\r\nContent-Length: "
).encode()
_local = threading.local()
_store = os.environ.get("FLOOR_STORE", "1")
_inbox: set[tuple[str, str]] = set()  # FLOOR_STORE=dict
_outbox: dict[tuple[str, str], str] = {}
_publishes = os.environ.get("FLOOR_PUBLISH", "1") == "1"


def _publish(body: bytes) -> None:
    connection: socket.socket | None = getattr(_local, "socket", None)
    if connection is None:
        connection = socket.create_connection((_sink.hostname, _sink.port or 80))
        _local.socket = connection
    connection.sendall(b"%s%d\r\n\r\n%s" % (_head, len(body), body))
    answer = connection.recv(4096)  # the sink answers 202 with an empty body: one segment
    if not answer.startswith(b"HTTP/1.1 2"):
        raise RuntimeError(f"the sink refused: {answer[:80]!r}")


def floor(request: _Request) -> str:
    if request.method != "POST":
        return ""  # readiness
    emitted = _store_event(request.headers["ce-source"], request.headers["ce-id"])
    if _publishes:
        _publish(emitted.encode())
    return ""


_idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []  # floor_asgi's connections


async def _publish_async(body: bytes) -> None:
    reader, writer = (
        _idle.pop() if _idle else await asyncio.open_connection(_sink.hostname, _sink.port or 80)
    )
    writer.write(b"%s%d\r\n\r\n%s" % (_head, len(body), body))
    answer = await reader.read(4096)  # as in _publish: the 202 comes in one segment
    if not answer.startswith(b"HTTP/1.1 2"):
        raise RuntimeError(f"the sink refused: {answer[:80]!r}")
    _idle.append((reader, writer))


@functions_framework.aio.http
async def floor_asgi(request: _Request) -> str:
    if request.method != "POST":
        return ""  # readiness
    emitted = _store_event(request.headers["ce-source"], request.headers["ce-id"])
    if _publishes:
        await _publish_async(emitted.encode())
    return ""


def _store_event(source: str, event_id: str) -> str:
    """The emitted event, recorded as FLOOR_STORE says; a redelivery gets the recorded one."""
    emitted = json.dumps(
        {
            "specversion": "1.0",
            "id": f"{event_id}-1",
            "source": "/floor",
            "type": "dev.shoal.bench.done",
            "data": {"ok": True},
        }
    )
    if _store == "1":
        return _record(source, event_id, emitted)
    if _store == "dict":
        return _record_in_memory(source, event_id, emitted)
    return emitted


def _record(source: str, event_id: str, emitted: str) -> str:
    """The transaction; on a redelivery, the outbox recorded the first time."""
    with _writer:
        _db.execute("BEGIN IMMEDIATE")
        claim = "INSERT INTO inbox VALUES (?, ?) ON CONFLICT DO NOTHING"
        if _db.execute(claim, (source, event_id)).rowcount == 1:
            read = "SELECT body FROM resources WHERE kind = ? AND name = ?"
            _db.execute(read, ("Node", "n1")).fetchone()
            _db.execute("INSERT INTO outbox VALUES (?, ?, ?)", (source, event_id, emitted))
        else:  # a redelivery: publish what was recorded, as the Shoal runtime does
            recorded = "SELECT events FROM outbox WHERE source = ? AND id = ?"
            (emitted,) = _db.execute(recorded, (source, event_id)).fetchone()
        _db.execute("COMMIT")
    return emitted


def _record_in_memory(source: str, event_id: str, emitted: str) -> str:
    """What `_record` does, in Python objects: the cost of the same steps without sqlite3."""
    key = (source, event_id)
    with _writer:
        if key in _inbox:
            return _outbox[key]
        _inbox.add(key)
        _outbox.get(("Node", "n1"))  # the read
        _outbox[key] = emitted
    return emitted
