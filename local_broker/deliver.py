"""Delivering one event to one destination, with Knative's retry rules.

Knative Eventing data plane, "Event Delivery": the broker sends in binary mode (or structured when
`delivery.format: json`) with `Prefer: reply`; it retries on no response, 404, 408, 409, 429 and
5xx, waiting `backoffDelay * k` (linear) or `backoffDelay * 2^(k-1)` (exponential) before retry k;
`Retry-After` on 429/503 is honoured up to `retryAfterMax`. A 2xx response with a CloudEvent is a
reply; a 2xx response whose body is not a CloudEvent is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from local_broker.backoff import backoff_delay, is_retryable, retry_after_seconds
from local_broker.binding import BindingError, decode_reply, encode_binary, encode_structured
from local_broker.event import CloudEvent
from local_broker.http.client import ClientResponse, HttpClient, HttpClientError
from local_broker.http.client_request import WireHeaders
from local_broker.manifests import DeliverySpec

# An attempt without a configured `delivery.timeout` still ends: a subscriber that never answers
# must not hold a delivery slot forever.
DEFAULT_ATTEMPT_TIMEOUT_SECONDS = 30.0
# Knative data plane, "Dead Letter Sink": knativeerrordata carries at most 1024 characters.
MAX_ERROR_DATA_CHARS = 1024


class Attempt:
    """What one HTTP attempt produced. `status` is None when no response came back."""

    # A plain class, not a dataclass: compiled, a dataclass keeps its generated (interpreted)
    # __init__, and one of these is made per event (docs/benchmarks.md, thirteenth session).
    __slots__ = ("body", "body_dropped", "error", "headers", "status")

    def __init__(
        self,
        status: int | None,
        body: bytes,
        headers: Mapping[str, str],
        error: str | None = None,
        body_dropped: int = 0,  # bytes of the body the client did not keep (`ClientResponse`)
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.error = error
        self.body_dropped = body_dropped

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Delivered:
    # A plain class, not a dataclass: compiled, a dataclass keeps its generated (interpreted)
    # __init__, and one of these is made per event (docs/benchmarks.md, thirteenth session).
    __slots__ = ("attempts", "reply")

    def __init__(self, reply: CloudEvent | None, attempts: int) -> None:
        self.reply = reply
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Failed:
    """The last attempt failed and no retry is left (or the failure was not retryable)."""

    destination: str
    last: Attempt
    attempts: int

    @property
    def error_code(self) -> int:
        # A transport failure has no status; Knative reports it to the DLS as 500.
        return self.last.status if self.last.status is not None else 500

    @property
    def reason(self) -> str:
        if self.last.error:
            return self.last.error
        return f"HTTP {self.last.status}"


Outcome = Delivered | Failed


def outgoing_request(event: CloudEvent, *, structured: bool) -> tuple[WireHeaders, bytes]:
    # Only the event's own headers go out (Knative data plane, "Event Delivery"): the binding
    # makes nothing but Content-Type and ce- headers, so there is nothing else to drop.
    encoded, body = encode_structured(event) if structured else encode_binary(event)
    headers = WireHeaders(encoded)
    headers["Prefer"] = "reply"
    return headers, body


class OutgoingRequests:
    """Each event's outgoing request, encoded once for all the Triggers that deliver it.

    Dispatchers of one Broker read the same record objects from its log's memory tail, so the
    event's identity is the key; an entry holds its event, so the identity stays unique while
    the entry lives. The oldest entries go first beyond `capacity` entries or `max_bytes` of
    bodies (4,096 bodies of up to the 1 MiB ingress limit would be 4 GiB).
    """

    def __init__(self, capacity: int = 4096, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: dict[tuple[int, bool], tuple[CloudEvent, WireHeaders, bytes]] = {}

    def get(self, event: CloudEvent, *, structured: bool) -> tuple[WireHeaders, bytes]:
        key = (id(event), structured)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is event:
            return entry[1], entry[2]
        headers, body = outgoing_request(event, structured=structured)
        entries = self._entries
        while entries and (
            len(entries) >= self._capacity or self._bytes + len(body) > self._max_bytes
        ):
            self._bytes -= len(entries.pop(next(iter(entries)))[2])
        entries[key] = (event, headers, body)
        self._bytes += len(body)
        return headers, body


async def attempt_once(
    client: HttpClient,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    timeout: float,
) -> Attempt:
    """POST once; any transport failure is an Attempt with status None and the reason."""
    try:
        response = await client.request("POST", url, headers, body, timeout)
    except (TimeoutError, HttpClientError) as error:
        return failed_attempt(error, timeout)
    return attempt_of(response)


def attempt_of(response: ClientResponse) -> Attempt:
    return Attempt(response.status, response.body, response.headers, None, response.body_dropped)


def failed_attempt(error: TimeoutError | HttpClientError, timeout: float) -> Attempt:
    """The Attempt of a request that got no response."""
    if isinstance(error, TimeoutError):
        return Attempt(None, b"", {}, f"no answer within {timeout:g} s")
    return Attempt(None, b"", {}, str(error))


def attempt_timeout(spec: DeliverySpec) -> float:
    return spec.timeout if spec.timeout is not None else DEFAULT_ATTEMPT_TIMEOUT_SECONDS


def settled_delivery(attempt: Attempt) -> Delivered | None:
    """Delivered when one 2xx attempt without a reply settles the delivery, else None (a reply
    to ingest, or a failure for `send_with_retries(first=attempt)` to carry on from)."""
    if not attempt.succeeded:
        return None
    reply, checked = _reply_of(attempt)
    return Delivered(None, 1) if reply is None and checked.error is None else None


def _reply_of(attempt: Attempt) -> tuple[CloudEvent | None, Attempt]:
    """The reply event of a 2xx attempt; a body that is not a CloudEvent turns it into a failure."""
    if attempt.body_dropped:  # a reply is ingested like an event: the ingress's limit holds
        size = len(attempt.body) + attempt.body_dropped
        reason = (
            f"bad reply: its body of {size} bytes is larger than the broker takes for an event "
            f"({len(attempt.body)} bytes, --max-event-bytes)"
        )
        return None, Attempt(attempt.status, b"", attempt.headers, reason)
    try:
        return decode_reply(attempt.headers, attempt.body), attempt
    except BindingError as error:
        return None, Attempt(attempt.status, attempt.body, attempt.headers, f"bad reply: {error}")
    except Exception as bug:  # a bug in reading it: still a failed attempt, never a stuck one
        reason = f"bad reply: {type(bug).__name__}: {bug}"
        return None, Attempt(attempt.status, attempt.body, attempt.headers, reason)


async def deliver_with_retries(
    client: HttpClient,
    url: str,
    event: CloudEvent,
    spec: DeliverySpec,
    *,
    on_retry: Callable[[Attempt], None] = lambda _attempt: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
    headers, body = outgoing_request(event, structured=spec.format == "json")
    return await send_with_retries(client, url, headers, body, spec, on_retry=on_retry, sleep=sleep)


async def send_with_retries(
    client: HttpClient,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    spec: DeliverySpec,
    *,
    on_retry: Callable[[Attempt], None] = lambda _attempt: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    first: Attempt | None = None,
) -> Outcome:
    """`deliver_with_retries` for an event already encoded by `outgoing_request`.

    `first` is the outcome of a first attempt already made (`HttpClient.send_on_idle`).
    """
    timeout = attempt_timeout(spec)
    attempts = 0
    while True:
        attempts += 1
        if first is not None:
            attempt, first = first, None
        else:
            attempt = await attempt_once(client, url, headers, body, timeout)
        if attempt.succeeded:
            reply, attempt = _reply_of(attempt)
            if attempt.error is None:
                return Delivered(reply, attempts)
        # A 2xx whose body is no CloudEvent is retried like a server error.
        retryable = attempt.succeeded or is_retryable(attempt.status)
        if not retryable or attempts > spec.retry:
            return Failed(url, attempt, attempts)
        on_retry(attempt)
        delay = backoff_delay(spec, attempts)
        hinted = retry_after_seconds(
            attempt.headers.get("Retry-After"),
            attempt.status,
            datetime.fromtimestamp(time.time(), UTC),
            spec.retry_after_max,
        )
        await sleep(max(delay, hinted) if hinted is not None else delay)


def dead_letter_event(event: CloudEvent, failure: Failed) -> CloudEvent:
    """The original event plus the error extensions (Knative data plane, "Dead Letter Sink")."""
    # 768 bytes encode to exactly 1024 base64 characters; cutting the bytes keeps it decodable.
    data = base64.b64encode(failure.last.body[: MAX_ERROR_DATA_CHARS // 4 * 3]).decode("ascii")
    return event.with_attributes(
        knativeerrordest=failure.destination,
        knativeerrorcode=str(failure.error_code),
        knativeerrordata=data or None,
    )
