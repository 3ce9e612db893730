"""Reading requests off one server connection: bytes in, `Request`s out, parsed by httptools.

The limits are checked while bytes arrive, so a request too large is refused before it is read:

- request line, header fields and the whole head are bounded (414 / 431); a malformed request
  gets 400; `feed` raises `RequestRefusedError` with the answer;
- a body above `max_body_bytes` is never read: as soon as the size is known (Content-Length,
  or a chunked body growing past it) `feed` raises `BodyTooLargeError` with the request, its
  `body` None, for the handler to answer.

Either way nothing more is read: the connection answers, then closes (`server_connection`).

Transfer codings (RFC 9112 section 6.1): only `chunked` is understood; a request with any other
coding is refused with 501 rather than stored still encoded. An HTTP/1.0 request that carries
Transfer-Encoding is answered and the connection closed, as its framing cannot be trusted.

A body arriving in several pieces is gathered in one `bytearray`, so what a connection holds is
bounded by the body limit itself, however small the pieces; nothing of a request stays with the
parser once it is handed over, and `close` lets go of everything when the connection ends.
"""

from __future__ import annotations

from typing import Final, Protocol

import httptools

from local_broker.http.message import Headers, Request, Response, json_response
from local_broker.http.server_types import ServerLimits

CLOSE: Final = b"Connection: close\r\n"
_KEEP_ALIVE: Final = b"Connection: keep-alive\r\n"
# httptools buffers a header field until it ends: bound what an unfinished head may hold.
_HEAD_GUARD_BYTES: Final = 512 * 1024
# Lowercased names of the header fields seen most, so most fields skip decode() and lower().
_HEADER_NAMES: dict[bytes, str] = {}
_MAX_HEADER_NAMES: Final = 512


class RequestRefusedError(Exception):
    """Parsing stops here: answer `response`, then close the connection."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class BodyTooLargeError(Exception):
    """The body exceeds the limit: hand `request` (without its body) over, then close."""

    def __init__(self, request: Request) -> None:
        super().__init__(request.target)
        self.request = request


class ParsedRequests(Protocol):
    """What the parser tells its connection, as it happens."""

    def request_started(self) -> None: ...

    def continue_expected(self) -> None: ...

    def request_received(self, request: Request, connection_header: bytes) -> None:
        """A complete request, with the Connection header field its answer needs (b"": none)."""


def error_response(status: int, message: str) -> Response:
    """An answer the server makes itself (a refusal, a timeout, a failed handler)."""
    return json_response({"error": message}, status)


def _head_too_large(limits: ServerLimits, field_bytes: int, head_bytes: int) -> str:
    if field_bytes > limits.max_line_bytes:
        return f"a header field is longer than {limits.max_line_bytes} bytes"
    if head_bytes > limits.max_head_bytes:
        return f"the header fields are longer than {limits.max_head_bytes} bytes in all"
    return f"the request has more than {limits.max_header_count} header fields"


class RequestParser:
    """The requests of one connection, in order; its methods but `feed` are httptools'."""

    def __init__(self, requests: ParsedRequests, limits: ServerLimits) -> None:
        self._requests = requests
        self._limits = limits
        self._parser = httptools.HttpRequestParser(self)
        self._in_head = False
        # The request being parsed:
        self._url = b""
        self._pairs: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._unparsed_head_bytes = 0
        self._body: bytes | bytearray = b""
        self._body_bytes = 0
        self._expect_continue = False
        self._transfer_codings = ""  # the Transfer-Encoding field's values, lower-cased

    def close(self) -> None:
        """The connection is gone: drop the request in progress and the reference to the
        connection. What stays in the cycle with httptools' parser is a few hundred bytes for
        the garbage collector, not a body of up to the limit that would wait for its next full
        collection (the broker collects rarely, and a long-lived connection is old by then)."""
        self._requests = _NO_ONE
        self._pairs = []
        self._body = b""

    def feed(self, data: bytes) -> None:
        """Parse what arrived; RequestRefusedError or BodyTooLargeError end the connection's
        reading."""
        if self._in_head:
            self._unparsed_head_bytes += len(data)
            if self._unparsed_head_bytes > _HEAD_GUARD_BYTES:
                raise RequestRefusedError(error_response(431, "the request head is too large"))
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, RequestRefusedError | BodyTooLargeError):
                raise cause from None
            raise
        except httptools.HttpParserUpgrade:
            message = "protocol upgrades are not supported"
            raise RequestRefusedError(error_response(400, message)) from None
        except httptools.HttpParserError as invalid:
            message = f"malformed HTTP request: {invalid}"
            raise RequestRefusedError(error_response(400, message)) from None

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._in_head = True
        self._unparsed_head_bytes = 0
        self._url = b""
        self._pairs = []
        self._head_bytes = 0
        self._body = b""
        self._body_bytes = 0
        self._expect_continue = False
        self._transfer_codings = ""
        self._requests.request_started()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_line_bytes:
            raise RequestRefusedError(error_response(414, "the request target is too long"))

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self._head_bytes += size
        limits = self._limits
        if (
            size > limits.max_line_bytes
            or self._head_bytes > limits.max_head_bytes
            or len(self._pairs) >= limits.max_header_count
        ):
            message = _head_too_large(limits, size, self._head_bytes)
            raise RequestRefusedError(error_response(431, message))
        lowered = _HEADER_NAMES.get(name)
        if lowered is None:
            lowered = name.decode("latin-1").lower()
            if len(_HEADER_NAMES) < _MAX_HEADER_NAMES:
                _HEADER_NAMES[name] = lowered
        text = value.decode("utf-8", "surrogateescape")
        if lowered == "expect" and text.lower() == "100-continue":
            self._expect_continue = True
        elif lowered == "transfer-encoding":
            self._transfer_codings += f",{text.lower()}"
        self._pairs.append((lowered, text))

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._parser.should_upgrade():
            # llhttp would skip the body of an upgrade request; refuse it instead of misreading.
            message = "protocol upgrades are not supported; send plain HTTP/1.1 (curl --http1.1)"
            raise RequestRefusedError(error_response(400, message))
        if self._transfer_codings:
            self._check_transfer_codings()
        declared = self._content_length()
        if declared is not None and declared > self._limits.max_body_bytes:
            raise BodyTooLargeError(self._request(None))
        if self._expect_continue and self._parser.get_http_version() == "1.1":
            self._requests.continue_expected()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.max_body_bytes:
            raise BodyTooLargeError(self._request(None))
        if not self._body:
            self._body = body  # most bodies come in one piece: no copy
        else:
            if isinstance(self._body, bytes):
                self._body = bytearray(self._body)
            self._body += body

    def on_message_complete(self) -> None:
        body = self._body if isinstance(self._body, bytes) else bytes(self._body)
        self._body = b""
        if not self._parser.should_keep_alive() or (
            self._transfer_codings and self._parser.get_http_version() == "1.0"
        ):
            connection_header = CLOSE
        elif self._parser.get_http_version() == "1.0":
            connection_header = _KEEP_ALIVE
        else:
            connection_header = b""
        self._requests.request_received(self._request(body), connection_header)

    # Internals

    def _request(self, body: bytes | None) -> Request:
        method = self._parser.get_method().decode("ascii")
        target = self._url.decode("utf-8", "surrogateescape")
        return Request(method, target, Headers(self._pairs), body)

    def _check_transfer_codings(self) -> None:
        codings = [coding.strip() for coding in self._transfer_codings.split(",") if coding.strip()]
        unknown = [coding for coding in codings if coding != "chunked"]
        if unknown:
            # RFC 9112 section 6.1: a coding the server does not understand gets 501.
            message = (
                f"the transfer coding {unknown[0]!r} is not supported; send the body as it is, "
                "with Content-Length or Transfer-Encoding: chunked"
            )
            raise RequestRefusedError(error_response(501, message))

    def _content_length(self) -> int | None:
        for name, value in self._pairs:
            if name == "content-length":
                return int(value)  # llhttp has validated it
        return None


class _NoOne:
    """Whom a closed connection's parser tells: nobody."""

    def request_started(self) -> None:
        pass

    def continue_expected(self) -> None:
        pass

    def request_received(self, request: Request, connection_header: bytes) -> None:
        pass


_NO_ONE: Final = _NoOne()
