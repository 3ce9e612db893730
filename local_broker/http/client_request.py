"""What the delivery client writes: where a URL points and a request's bytes; plain data, no I/O.

Apart from the pool (`client`) because nothing here touches a connection: a request is checked
and built whole before one is taken (a line break in a header is an HttpClientError, nothing
sent), and an event's header block is formatted once however many Triggers it goes to
(`WireHeaders`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from local_broker.http.client_connection import HttpClientError


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL means for a request: where to connect and how the request line starts."""

    key: tuple[str, int]
    path: str
    host_header: str


def parse_target(url: str) -> Target | None:
    """The target of an http:// URL, None for other schemes; HttpClientError if invalid."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise HttpClientError(f"invalid URL {url!r}: {error}") from None
    if parts.scheme != "http":
        return None
    if not parts.hostname:
        raise HttpClientError(f"invalid URL {url!r}: it has no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(character.isspace() for character in path):
        raise HttpClientError(f"invalid URL {url!r}: its path contains white space")
    host_header = parts.netloc.rpartition("@")[2]
    return Target((parts.hostname, port or 80), path, host_header)


class WireHeaders(dict[str, str]):
    """Header fields that keep their wire form once sent: an event delivered to many Triggers
    is formatted once. Do not change them after the first request."""

    __slots__ = ("_wire",)

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(fields)
        # Not an AttributeError caught on the first `wire()`: compiled, raising costs a
        # traceback, once per event delivered.
        self._wire: bytes | None = None

    def wire(self) -> bytes:
        wire = self._wire
        if wire is None:
            wire = self._wire = _header_block(self)
        return wire


def _header_block(headers: Mapping[str, str]) -> bytes:
    lines = [f"{name}: {value}\r\n" for name, value in headers.items()]
    block = "".join(lines)
    # A CR or LF inside a name or value would smuggle in a header (or a second request).
    if block.count("\n") != len(lines) or block.count("\r") != len(lines):
        raise HttpClientError("a header name or value contains a line break")
    return block.encode("utf-8")


def request_bytes(method: str, target: Target, headers: Mapping[str, str], body: bytes) -> bytes:
    block = headers.wire() if isinstance(headers, WireHeaders) else _header_block(headers)
    start = (
        f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    return b"".join((start.encode("utf-8"), block, b"\r\n", body))
