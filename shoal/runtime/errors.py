"""The runtime's errors. The type says what happens to the event.

- `PermanentError`, raised by a handler: retrying cannot help (the event is malformed, refers to
  something that can never exist). The invocation answers 422, which Knative does not retry, so
  the event goes straight to the dead-letter sink. Nothing the handler wrote is committed.
- Any other exception from a handler: answered 500, so the broker retries with backoff.
- `NotACloudEventError`: the request is no CloudEvent; answered 400 (not retried).
- `PublishError`: the outbox could not be delivered to `K_SINK`; answered 503 and retried. The
  state change is already committed and the retry re-publishes the recorded outbox.
- `FunctionDefinitionError`: a mistake in a `@function` declaration, raised at import time.
"""

from __future__ import annotations


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
