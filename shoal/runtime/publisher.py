"""Publishing the outbox to `K_SINK` (the Broker's ingress, which Knative's SinkBinding injects).

Events go one per request in structured mode, the JSON format the outbox already holds, so
nothing is re-encoded. With `batch=True` (`SHOAL_SINK_BATCH=1`, which `shoal up` sets for the
local broker) an outbox of several events goes as few batched-mode requests as the limits in
`shoal.runtime.batching` allow; a single event still goes in structured mode. Any non-2xx answer
or transport failure is a `PublishError`; the invocation then answers 503 and the broker's retry
re-publishes the same recorded outbox (events of a batch the sink had accepted come again with
the same ids, and the broker drops those duplicates).

Each serving thread keeps one kept-alive connection to the sink (`shoal.runtime.sink_client`:
this is the hot path, and `http.client` costs about three times as much CPU per request). A
connection the sink closed while idle (no byte of an answer came back) is replaced and the
request sent once more; a duplicate that this may cause is harmless, because the broker drops
events whose (source, id) it already accepted and the ids are deterministic.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from shoal.runtime.batching import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, batch_body, chunks
from shoal.runtime.errors import PublishError
from shoal.runtime.sink_client import SinkConnection, request_head
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
        https = parts.scheme == "https"
        self._tls = ssl.create_default_context() if https else None
        self._host = parts.hostname
        default_port = 443 if https else 80
        self._port = parts.port or default_port
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._structured = request_head(self._host, parts.port, default_port, target, STRUCTURED)
        self._batched = request_head(self._host, parts.port, default_port, target, BATCH)
        self._timeout = timeout_seconds
        self._batch = batch
        self._max_events = max_batch_events
        self._max_bytes = max_batch_bytes
        self._local = threading.local()

    def publish(self, events: Sequence[Mapping[str, object]]) -> None:
        if not self._batch or len(events) < 2:
            for event in events:
                self._send(self._structured, encode_event(event), [event])
            return
        encoded = [encode_event(event) for event in events]
        start = 0
        for chunk in chunks(encoded, max_events=self._max_events, max_bytes=self._max_bytes):
            sent = events[start : start + len(chunk)]
            start += len(chunk)
            if len(chunk) == 1:
                self._send(self._structured, chunk[0], sent)
            else:
                self._send(self._batched, batch_body(chunk), sent)

    def _send(self, head: bytes, body: bytes, events: Sequence[Mapping[str, object]]) -> None:
        status, answer = self._post(head, body)
        if not 200 <= status < 300:
            detail = answer[:MAX_ERROR_BODY].decode("utf-8", "replace")
            which = (
                f"event {events[0].get('id')!r}"
                if len(events) == 1
                else f"a batch of {len(events)} events ({events[0].get('id')!r} first)"
            )
            raise PublishError(f"K_SINK {self.sink} refused {which} with HTTP {status}: {detail}")

    def _post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        connection: SinkConnection | None = getattr(self._local, "connection", None)
        reused = connection is not None and connection.open
        for _attempt in (1, 2):
            try:
                if connection is None or not connection.open:
                    connection = SinkConnection(self._host, self._port, self._timeout, self._tls)
                    self._local.connection = connection
                return connection.post(head, body)
            except OSError as error:
                stale = (
                    reused
                    and connection is not None
                    and not connection.answered_anything
                    and not isinstance(error, TimeoutError)  # a slow sink is no stale socket
                )
                if not stale:
                    raise PublishError(f"cannot reach K_SINK {self.sink}: {error}") from error
                reused = False  # the sink had closed it while idle: once more, on a new one
        raise AssertionError("unreachable")
