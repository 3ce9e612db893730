"""The CLI's HTTP: posting the user's CloudEvents to the broker, and reading the API.

Events go in binary mode (`shoal.runtime.wire`), as a Knative Broker ingress takes them. A
POST that fails in a way worth retrying (the connection dropped, 429, 5xx) is retried with the
same event id, so the broker's deduplication on (source, id) keeps a retried POST from counting
twice. A refused connection is not retried: nothing listens there.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from shoal.cli.endpoints import Endpoint
from shoal.cli.errors import NotFound, RequestError
from shoal.runtime.wire import binary_message

CLI_SOURCE = "/shoal/cli"
TIMEOUT_SECONDS = 10.0
POST_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.5
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def cli_event(type_: str, subject: str, data: Mapping[str, object]) -> dict[str, object]:
    """A CloudEvent (JSON format) from the CLI, with a fresh id."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": CLI_SOURCE,
        "type": type_,
        "subject": subject,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": dict(data),
    }


def post_event(broker: Endpoint, event: Mapping[str, object]) -> None:
    """Post `event` to the broker; RequestError when it is not accepted."""
    headers, body = binary_message(event)
    for attempt in range(1, POST_ATTEMPTS + 1):
        request = urllib.request.Request(broker.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):
                return
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace").strip()
            if error.code not in RETRIED_STATUSES or attempt == POST_ATTEMPTS:
                raise RequestError(
                    f"the broker at {broker} answered {error.code} {error.reason}: {detail}"
                ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, ConnectionRefusedError) or attempt == POST_ATTEMPTS:
                raise RequestError(f"cannot reach the broker at {broker}: {reason}") from None
        time.sleep(RETRY_DELAY_SECONDS * attempt)


def get_json(api: Endpoint, path: str, query: Mapping[str, str]) -> bytes:
    """The body of `GET <api>/<path>?<query>`; RequestError with the API's message otherwise
    (NotFound for a 404)."""
    url = api.url.rstrip("/") + "/" + urllib.parse.quote(path.lstrip("/"))
    if query:
        url += "?" + urllib.parse.urlencode(query)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        message = _api_message(error.read(), f"{error.code} {error.reason}")
        raise (NotFound if error.code == 404 else RequestError)(message) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RequestError(f"cannot reach the API at {api}: {reason}") from None


def _api_message(body: bytes, status: str) -> str:
    return error_message(body, f"the API answered {status}: {body[:200]!r}")


def error_message(body: bytes, fallback: str) -> str:
    """The `error` of a JSON error body (the API's, an agent's), else `fallback`."""
    try:
        message = json.loads(body).get("error")
    except (ValueError, AttributeError):
        message = None
    return message if isinstance(message, str) else fallback
