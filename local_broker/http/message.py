"""HTTP messages as plain data: header fields, a request as the server hands it to a handler,
and the response a handler returns.

Header names are lowercased on arrival and values are decoded as UTF-8 with surrogateescape (as
aiohttp does), so a value that is not valid UTF-8 survives to the CloudEvents binding, which
rejects it with a 400 naming the header.
"""

from __future__ import annotations

import json
from collections.abc import ItemsView, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"


class Headers(Mapping[str, str]):
    """Header fields in arrival order, repeats kept; lookups ignore case.

    `items()` yields every field, repeats included (the binding rejects a repeated ce- header);
    `get` and `[]` give the first value of a name. Built once per message, read a few times.
    """

    __slots__ = ("_first", "_pairs")

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        # `pairs` must already have lowercased names; the list is owned from here on.
        self._pairs = pairs
        self._first: dict[str, str] | None = None

    def _index(self) -> dict[str, str]:
        first: dict[str, str] = {}
        for name, value in self._pairs:
            first.setdefault(name, value)
        self._first = first
        return first

    def __getitem__(self, name: str) -> str:
        return (self._first or self._index())[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first or self._index())

    def __len__(self) -> int:
        return len(self._first or self._index())

    def items(self) -> _Fields:
        return _Fields(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


class _Fields(ItemsView[str, str]):
    """Every (name, value) pair, repeats included."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __contains__(self, item: object) -> bool:
        return item in self._pairs


class Request:
    """One request as received. `body` is None when it was larger than the server's limit:
    it was not read, and the connection closes after the response."""

    # A plain class, not a dataclass: compiled, a dataclass keeps its generated (interpreted)
    # __init__, and one of these is made per event (docs/benchmarks.md, thirteenth session).
    __slots__ = ("body", "headers", "method", "target")

    def __init__(self, method: str, target: str, headers: Headers, body: bytes | None) -> None:
        self.method = method
        self.target = target  # the request-target as sent: path and query, still percent-encoded
        self.headers = headers
        self.body = body

    @property
    def path(self) -> str:
        return _origin_form(self.target).partition("?")[0]

    @property
    def query_string(self) -> str:
        return self.target.partition("?")[2]


def _origin_form(target: str) -> str:
    """The path and query of a request target. RFC 9112 section 3.2.2: a server must accept
    the absolute form (`http://host:port/path?query`), which proxies send, as well."""
    if target.startswith("/") or "://" not in target:
        return target
    after_authority = target.partition("://")[2]
    slash, query = after_authority.find("/"), after_authority.find("?")
    if slash == -1 or (query != -1 and query < slash):  # no path: RFC 9112 3.2.1, it is "/"
        return "/" + ("" if query == -1 else after_authority[query:])
    return after_authority[slash:]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def json_response(
    payload: object, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """A JSON body, as aiohttp's json_response writes it (the tests compare these bodies)."""
    return Response(status, json.dumps(payload).encode(), JSON_CONTENT_TYPE, headers)


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n".encode("ascii")


_STATUS_LINES: Final = {status.value: _status_line(status.value) for status in HTTPStatus}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else _status_line(status)
