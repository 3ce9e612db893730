"""The runtime's errors. The type says what happens to the event.

- `PermanentError`, raised by a handler: retrying cannot help (the event is malformed, refers to
  something that can never exist). The invocation answers 422, which Knative does not retry, so
  the event goes straight to the dead-letter sink. Nothing the handler wrote is committed.
- Any other exception from a handler: answered 500, so the broker retries with backoff.
- `NotACloudEventError`: the request is no CloudEvent; answered 400 (not retried).
- `InvalidEmitError`: a handler emitted an event the broker would refuse (an empty type, an
  attribute value CloudEvents does not allow, an event over 1 MiB); a handler failure, answered
  500, and nothing is committed.
- `PublishError`: the outbox could not be delivered to `K_SINK`; answered 503 and retried. The
  state change is already committed and the retry re-publishes the recorded outbox.
- `FunctionDefinitionError`: a mistake in a `@function` declaration, raised at import time.
"""

from __future__ import annotations

from collections.abc import Mapping


class FunctionRuntimeError(Exception):
    """Base class of the runtime's own errors."""


class PermanentError(Exception):
    """Raise from a handler when the event can never be handled: it is dead-lettered."""


class NotACloudEventError(FunctionRuntimeError):
    """The request is not a valid CloudEvent; the message says what is missing."""


class PublishError(FunctionRuntimeError):
    """The sink refused the emitted events or could not be reached."""


class FunctionDefinitionError(FunctionRuntimeError):
    """A `@function` declaration that cannot be served or rendered into manifests."""


class InvalidEmitError(FunctionRuntimeError):
    """A handler emitted an event the broker would refuse; the invocation fails (500) and
    nothing is committed. `attribute` names the culprit (None when it is the whole event)."""

    def __init__(
        self,
        function: str,
        index: int,
        event: Mapping[str, object],
        attribute: str | None,
        reason: str,
    ) -> None:
        self.function = function
        self.index = index
        self.event_type = event.get("type")
        self.event_id = event.get("id")
        self.attribute = attribute
        self.reason = reason
        super().__init__(
            f"{function} emitted an invalid event (number {index}, type {self.event_type!r}, "
            f"id {self.event_id}): {reason}"
        )
