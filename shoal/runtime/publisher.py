"""Publishing the outbox to `K_SINK` (the Broker's ingress, which Knative's SinkBinding injects).

Events go one per request in structured mode, the JSON format the outbox already holds, so
nothing is re-encoded. Any non-2xx answer or transport failure is a `PublishError`; the
invocation then answers 503 and the broker's retry re-publishes the same recorded outbox.

Each serving thread keeps one kept-alive connection to the sink (plain `http.client`: this is
the hot path, and a pool adds a third to its cost). A connection the sink closed while idle is
replaced and the request sent once more; a duplicate that this may cause is harmless, because
the broker drops events whose (source, id) it already accepted and the ids are deterministic.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from shoal.runtime.errors import PublishError
from shoal.runtime.wire import structured_message

MAX_ERROR_BODY = 300


class Publisher(Protocol):
    def publish(self, events: Sequence[Mapping[str, object]]) -> None:
        """Deliver every event, in order, or raise PublishError."""
        ...


class HttpPublisher:
    def __init__(self, sink: str, *, timeout_seconds: float = 10.0) -> None:
        parts = urlsplit(sink)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"K_SINK {sink!r} is not an absolute http:// or https:// URL")
        self.sink = sink
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._target = parts.path or "/"
        if parts.query:
            self._target += f"?{parts.query}"
        self._timeout = timeout_seconds
        self._local = threading.local()

    def publish(self, events: Sequence[Mapping[str, object]]) -> None:
        for event in events:
            headers, body = structured_message(event)
            status, answer = self._post(headers, body)
            if not 200 <= status < 300:
                detail = answer[:MAX_ERROR_BODY].decode("utf-8", "replace")
                raise PublishError(
                    f"K_SINK {self.sink} refused event {event.get('id')!r} with HTTP "
                    f"{status}: {detail}"
                )

    def _post(self, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            reused = getattr(self._local, "connection", None)
            connection = reused or self._connect()
            try:
                connection.request("POST", self._target, body, dict(headers))
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                self._local.connection = None
                if reused is None or attempt == 2:
                    raise PublishError(f"cannot reach K_SINK {self.sink}: {error}") from error
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._host, self._port, timeout=self._timeout)
        self._local.connection = connection
        return connection
