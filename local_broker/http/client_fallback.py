"""What the delivery client does not do itself (`https://`), through an aiohttp session.

The broker's subscribers are plain HTTP on a developer's machine, so this path is rare; its
answers and failures look the same as the client's own (`ClientResponse`, `HttpClientError`).
aiohttp is imported on the first such request: importing it takes a fifth of a second, which
every start of the broker and of its delivery process would pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from local_broker.http.client_connection import (
    MAX_RESPONSE_BODY_BYTES,
    ClientResponse,
    HttpClientError,
    kept_body_bytes,
)
from local_broker.http.message import Headers

if TYPE_CHECKING:
    import aiohttp


class AiohttpFallback:
    """One lazily made aiohttp session; `await close()` at the end."""

    def __init__(self, max_body_bytes: int = MAX_RESPONSE_BODY_BYTES) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._max_body_bytes = max_body_bytes

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> ClientResponse:
        import aiohttp  # noqa: PLC0415 (see the module's docstring)

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
            )
        try:
            # No Content-Type of aiohttp's own: an event without datacontenttype stays without.
            async with self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                skip_auto_headers=("Content-Type",),
            ) as response:
                status = response.status
                keep = kept_body_bytes(status, self._max_body_bytes)
                parts: list[bytes] = []
                kept = received = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    received += len(chunk)
                    if kept < keep:
                        parts.append(chunk[: keep - kept])
                        kept += len(parts[-1])
                pairs = [(name.lower(), value) for name, value in response.headers.items()]
                return ClientResponse(status, Headers(pairs), b"".join(parts), received - kept)
        except aiohttp.ClientError as error:
            raise HttpClientError(f"{type(error).__name__}: {error}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
