"""Which handler answers a request on the broker's one port.

Operator endpoints (`admin.ADMIN_ROUTES`) match their exact path; every other path of two
non-empty segments is a broker's ingress, `/<namespace>/<broker>` (the segments
percent-decoded); anything else is 404.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote

from local_broker.admin import ADMIN_ROUTES
from local_broker.http.message import Request, json_response
from local_broker.http.server import Handler, HandlerResult
from local_broker.ingress import handle_broker_path
from local_broker.runtime import BrokerRuntime

_ADMIN_METHODS: Final = ("GET", "HEAD")
_ADMIN_ALLOW: Final = (("Allow", "GET, HEAD"),)


def broker_of_path(path: str) -> tuple[str, str] | None:
    """(namespace, name) of an ingress path `/<namespace>/<name>`, else None."""
    parts = path.split("/")
    if len(parts) != 3 or parts[0] or not parts[1] or not parts[2]:
        return None
    namespace, name = parts[1], parts[2]
    if "%" in path:
        namespace, name = unquote(namespace), unquote(name)
    return namespace, name


def broker_handler(runtime: BrokerRuntime) -> Handler:
    """The one handler the HTTP server calls for every request."""

    def handle(request: Request) -> HandlerResult:
        path = request.path
        admin = ADMIN_ROUTES.get(path)
        if admin is not None:
            if request.method in _ADMIN_METHODS:
                return admin(runtime, request)
            return json_response({"error": f"only GET is allowed on {path}"}, 405, _ADMIN_ALLOW)
        broker = broker_of_path(path)
        if broker is not None:
            return handle_broker_path(runtime, request, *broker)
        return json_response(
            {"error": f"there is nothing at {path}; brokers listen at /<namespace>/<broker>"}, 404
        )

    return handle
