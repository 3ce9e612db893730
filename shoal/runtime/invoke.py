"""One invocation, from request bytes to response: the transactional outbox.

    parse -> transaction [inbox claim -> handler -> outbox record] -> commit
          -> publish the outbox to K_SINK (or reply with it) -> 2xx

The whole bracket runs in one state transaction, re-run on `Conflict` (a concurrent writer, or
a concurrent delivery of the same event recording its inbox entry first). A redelivered event
finds its inbox entry and re-publishes the recorded outbox without running the handler, so a
publish that failed half way is completed by the broker's retry, with the same event ids.

Statuses (Knative retries 404, 408, 409, 429 and 5xx, and dead-letters everything else):
204 handled (no reply), 200 with the reply event, 400 not a CloudEvent, 422 `PermanentError`
or an event the state store can never hold (`LimitExceeded`), 500 handler failure (an emitted
event the broker would refuse included), 503 state store or `K_SINK` unavailable. Error bodies
are JSON `{"error": ..., "function": ...}`; the broker passes them to the dead-letter sink.
Each failure is logged as one JSON line.

When the input's `knativebrokerttl` is exhausted, the broker would refuse every event the
invocation emits (a loop ran out); they are neither recorded nor published, as the broker drops
such a reply, and the invocation succeeds.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shoal.runtime.context import Context
from shoal.runtime.errors import (
    InvalidEmitError,
    NotACloudEventError,
    PermanentError,
    PublishError,
)
from shoal.runtime.event import Event
from shoal.runtime.logs import FunctionLogger
from shoal.runtime.outbox import TTL_EXTENSION, build_outbox, exhausted_ttl
from shoal.runtime.publisher import Publisher
from shoal.runtime.spec import FunctionSpec
from shoal.runtime.wire import binary_message, parse_request
from shoal.state import (
    LimitExceeded,
    Outbox,
    StateError,
    StateStore,
    Transaction,
    run_in_transaction,
)

TRANSACTION_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class MissingSinkError(Exception):
    """More than one event to emit, and no K_SINK to publish them to."""


def _now() -> datetime:
    return datetime.now(UTC)


class Invoker:
    """Serves one function: `handle(headers, body)` is one HTTP request. Thread-safe."""

    def __init__(
        self,
        spec: FunctionSpec,
        store: StateStore,
        publisher: Publisher | None,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.spec = spec
        self._event_source = spec.event_source  # a property that formats a string each time
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._log = FunctionLogger(spec.name)

    def handle(
        self, headers: Mapping[str, str], body: bytes, *, names_lowered: bool = False
    ) -> Response:
        """`names_lowered=True`: every header name is lower-case (`http.request_headers`)."""
        try:
            event = parse_request(headers, body, names_lowered=names_lowered)
        except NotACloudEventError as error:
            return self.refuse(error)
        log = self._log.bind(event_id=event.id, event_source=event.source, event_type=event.type)
        try:
            outbox, dropped = run_in_transaction(
                self._store,
                lambda tx: self._in_transaction(tx, event, log),
                attempts=TRANSACTION_ATTEMPTS,
            )
        except PermanentError as error:
            log.warning("permanent failure, not retried", error=str(error))
            return self._error(422, f"permanent failure: {error}")
        except LimitExceeded as error:
            log.warning("the state store cannot hold this event, not retried", error=str(error))
            return self._error(
                422, f"permanent failure: the state store cannot record this event: {error}"
            )
        except StateError as error:
            log.error("state store unavailable", error=f"{type(error).__name__}: {error}")
            return self._error(503, f"state store unavailable: {error}")
        except MissingSinkError as error:
            log.error("cannot emit", error=str(error))
            return self._error(500, str(error))
        except InvalidEmitError as error:
            log.error(
                "emitted an invalid event",
                emitted_index=error.index,
                emitted_type=error.event_type,
                emitted_id=error.event_id,
                attribute=error.attribute,
                error=error.reason,
            )
            return self._error(500, str(error))
        except Exception as error:
            log.error(
                "handler failed",
                error=f"{type(error).__name__}: {error}",
                traceback=traceback.format_exc(),
            )
            return self._error(500, f"handler failed: {type(error).__name__}: {error}")
        if dropped:
            log.warning(
                "emitted events dropped: the input's TTL is exhausted (an event loop ran out)",
                dropped=dropped,
                knativebrokerttl=event.extensions.get(TTL_EXTENSION),
            )
        return self._deliver(outbox, log)

    def refuse(self, error: NotACloudEventError) -> Response:
        """The answer to a request that is no (valid) CloudEvent: 400, and one log line."""
        self._log.warning("not a CloudEvent, refused", error=str(error))
        return self._error(400, str(error))

    def _in_transaction(
        self, tx: Transaction, event: Event, log: FunctionLogger
    ) -> tuple[Outbox, int]:
        """The outbox to deliver, and how many emitted events were dropped (TTL exhausted)."""
        name = self.spec.name
        recorded = tx.inbox_claim(name, event.source, event.id)
        if recorded is not None:
            log.info("redelivered: re-publishing the recorded outbox", events=len(recorded))
            return recorded, 0
        emitted = self.spec.handler(event, Context(name, tx, log, self._clock))
        if self._publisher is None and len(emitted) > 1:
            raise MissingSinkError(
                f"{name} emitted {len(emitted)} events, but without K_SINK only one can be "
                "sent (as the reply): set K_SINK to the broker URL (a SinkBinding does on Knative)"
            )
        outbox = build_outbox(name, self._event_source, event, emitted, self._clock())
        dropped = 0
        if outbox and self._publisher is not None and exhausted_ttl(event) is not None:
            dropped, outbox = len(outbox), []  # a reply is left to the broker, which drops it
        tx.outbox_put(name, event.source, event.id, outbox)
        return outbox, dropped

    def _deliver(self, outbox: Outbox, log: FunctionLogger) -> Response:
        if self._publisher is None:
            if not outbox:
                return Response(204)
            headers, body = binary_message(outbox[0])
            return Response(200, headers, body)
        try:
            self._publisher.publish(outbox)
        except PublishError as error:
            log.error("publishing failed; the retry re-publishes", error=str(error))
            return self._error(503, str(error))
        return Response(204)

    def _error(self, status: int, message: str) -> Response:
        body = json.dumps({"error": message, "function": self.spec.name}).encode()
        return Response(status, {"Content-Type": "application/json"}, body)
