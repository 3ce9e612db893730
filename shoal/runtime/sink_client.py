"""A blocking HTTP/1.1 client for one URL: POST a body, read the answer, keep the socket alive.

This is the publisher's hot path, so it does little: the request head is formatted once per
content type, and a request is one `sendall` of head and body; the answer is parsed by
httptools (llhttp), which handles Content-Length, chunked bodies and bodies ended by the server
closing the connection (RFC 9112, section 6.3). An interim 1xx answer is skipped. A connection
is kept for the next request unless the answer says otherwise (`should_keep_alive`).

`SinkConnection.post` raises `OSError` for transport failures (refused, reset, closed before a
complete answer; `TimeoutError` when a send or a receive waits longer than the timeout, or when
the answer is still incomplete once the timeout has passed since the request: a sink that
trickles its answer a byte at a time ends within twice the timeout) and
`BadAnswerError` for an answer that is not HTTP. `answered_anything` tells the caller whether
the server had sent any byte of an answer, so a request on a kept-alive connection that the
server had already closed can be sent again.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from typing import Final

import httptools

MAX_ANSWER_BYTES: Final = 1024 * 1024
_READ_SIZE: Final = 65536
_SMALL_BODY: Final = 65536  # below this, head and body are joined into one send


class BadAnswerError(OSError):
    """The sink's answer is not HTTP/1.1, or is larger than MAX_ANSWER_BYTES."""


class _Answer:
    """httptools callbacks: collects the final answer (interim 1xx answers are dropped).

    One per connection, its parser reused from answer to answer (llhttp starts the next message
    after a complete one)."""

    __slots__ = ("body", "complete", "headers_done", "keep_alive", "parser", "size", "status")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.expect()

    def expect(self) -> None:
        """Ready for the next answer. (No `on_message_begin` to do this: one callback less.)"""
        self.body: list[bytes] = []
        self.complete = self.headers_done = self.keep_alive = False
        self.size = self.status = 0

    def on_headers_complete(self) -> None:
        # Asked here: once the message is complete, llhttp has moved on to the next one.
        self.headers_done, self.keep_alive = True, self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= MAX_ANSWER_BYTES:
            self.body.append(body)

    def on_message_complete(self) -> None:
        status: int = self.parser.get_status_code()
        if status >= 200:
            self.status, self.complete = status, True
        else:
            self.expect()  # an interim answer: the final one follows


def request_head(host: str, port: int | None, default_port: int, target: str, media: str) -> bytes:
    """The request line and headers up to `Content-Length: ` (the caller appends the length)."""
    authority = host if port in (None, default_port) else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        authority = f"[{host}]" if port in (None, default_port) else f"[{host}]:{port}"
    return (
        f"POST {target} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {media}\r\nContent-Length: "
    ).encode("ascii")


class SinkConnection:
    """One kept-alive connection to (host, port); not thread-safe (one per thread)."""

    def __init__(
        self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None = None
    ) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is None:
                # A blocking socket with the kernel's timeouts: Python's timeout mode would
                # poll() before every send and receive, two more system calls per request.
                sock.settimeout(None)
                interval = struct.pack("ll", int(timeout), int(timeout % 1 * 1_000_000))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, interval)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, interval)
            self._sock = sock if tls is None else tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self._timeout = timeout
        self._buffer = bytearray(_READ_SIZE)
        self._view = memoryview(self._buffer)
        self._answer = _Answer()
        self.open = True
        self.answered_anything = False

    def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        """Send `head` (from `request_head`) with `body`; the answer's status and body."""
        self.answered_anything = False
        length = b"%d\r\n\r\n" % len(body)
        deadline = time.monotonic() + self._timeout
        try:
            if len(body) < _SMALL_BODY:
                self._sock.sendall(head + length + body)
            else:
                self._sock.sendall(head + length)
                self._sock.sendall(body)
            return self._read_answer(deadline)
        except BlockingIOError as error:  # what SO_RCVTIMEO / SO_SNDTIMEO give on expiry
            self.close()
            raise TimeoutError(f"the sink did not answer in time: {error}") from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.open = False
        self._sock.close()

    def _read_answer(self, deadline: float) -> tuple[int, bytes]:
        answer = self._answer
        answer.expect()
        while not answer.complete:
            received = self._sock.recv_into(self._buffer)
            if received == 0:
                if not answer.headers_done or answer.keep_alive:
                    raise ConnectionResetError("the sink closed the connection before answering")
                answer.status = answer.parser.get_status_code()  # a body ended by closing
                break
            self.answered_anything = True
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the sink's answer was not complete {self._timeout:g} s after the request"
                )
            try:
                answer.parser.feed_data(self._view[:received])
            except httptools.HttpParserError as error:
                raise BadAnswerError(f"the sink's answer is not HTTP/1.1: {error}") from None
            if answer.size > MAX_ANSWER_BYTES:
                raise BadAnswerError(f"the sink's answer is larger than {MAX_ANSWER_BYTES} bytes")
        if not answer.complete or not answer.keep_alive:
            self.close()
        return answer.status, b"".join(answer.body)
