"""Publishing the outbox to `K_SINK` (the Broker's ingress, which Knative's SinkBinding injects).

Events go one per request in structured mode, the JSON format the outbox already holds, so
nothing is re-encoded. With `batch=True` (`SHOAL_SINK_BATCH=1`, which `shoal up` sets for the
local broker) an outbox of several events goes as few batched-mode requests as the limits in
`shoal.runtime.batching` allow; a single event still goes in structured mode. Any non-2xx answer
or transport failure is a `PublishError`; the invocation then answers 503 and the broker's retry
re-publishes the same recorded outbox (events of a batch the sink had accepted come again with
the same ids, and the broker drops those duplicates).

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

from shoal.runtime.batching import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, batch_body, chunks
from shoal.runtime.errors import PublishError
from shoal.runtime.wire import BATCH, STRUCTURED, encode_event

MAX_ERROR_BODY = 300


class Publisher(Protocol):
    def publish(self, events: Sequence[Mapping[str, object]]) -> None:
        """Deliver every event, in order, or raise PublishError."""
        ...


class HttpPublisher:
    def __init__(
        self,
        sink: str,
        *,
        timeout_seconds: float = 10.0,
        batch: bool = False,
        max_batch_events: int = DEFAULT_MAX_EVENTS,
        max_batch_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
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
        self._batch = batch
        self._max_events = max_batch_events
        self._max_bytes = max_batch_bytes
        self._local = threading.local()

    def publish(self, events: Sequence[Mapping[str, object]]) -> None:
        if not self._batch or len(events) < 2:
            for event in events:
                self._send(STRUCTURED, encode_event(event), [event])
            return
        encoded = [encode_event(event) for event in events]
        start = 0
        for chunk in chunks(encoded, max_events=self._max_events, max_bytes=self._max_bytes):
            sent = events[start : start + len(chunk)]
            start += len(chunk)
            if len(chunk) == 1:
                self._send(STRUCTURED, chunk[0], sent)
            else:
                self._send(BATCH, batch_body(chunk), sent)

    def _send(self, content_type: str, body: bytes, events: Sequence[Mapping[str, object]]) -> None:
        status, answer = self._post({"Content-Type": content_type}, body)
        if not 200 <= status < 300:
            detail = answer[:MAX_ERROR_BODY].decode("utf-8", "replace")
            which = (
                f"event {events[0].get('id')!r}"
                if len(events) == 1
                else f"a batch of {len(events)} events ({events[0].get('id')!r} first)"
            )
            raise PublishError(f"K_SINK {self.sink} refused {which} with HTTP {status}: {detail}")

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
