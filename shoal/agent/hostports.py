"""Whether a replica's host ports are free on this node before it starts.

The scheduler hands out host ports from the node's range knowing only what it placed itself; a
process outside Shoal may listen on one of them. A replica started anyway fails in its own
words, or not at all visibly (a server that logs nothing). So the exec and docker drivers
check first, and a port another process holds fails the start with a reason that names it.
The probe binds the wildcard address with SO_REUSEADDR, as servers do: a listener on any
address conflicts, a connection left in TIME_WAIT does not.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from shoal.agent.errors import DriverError


def taken(ports: Iterable[int]) -> list[int]:
    """The ports among `ports` that something on this host listens on."""
    held: list[int] = []
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    held.append(port)
    return held


def require_free(replica: str, ports: Iterable[int]) -> None:
    """DriverError naming the ports another process holds, if any."""
    held = taken(ports)
    if held:
        listed = ", ".join(str(port) for port in held)
        raise DriverError(
            f"host port {listed} of {replica} is taken by a process outside Shoal on this "
            "node: stop it, or narrow the node's port range"
        )
