"""Free loopback ports for processes that are told their port before they bind it.

`shoal up` picks a port for each function, starts the function with `PORT`, and the function
binds it a second or so later. A port from `bind(port 0)` comes from the kernel's ephemeral
range, the same range every outgoing connection takes its local port from. In that second the
readiness probes alone open dozens of connections, and one of them can take the port first
("address already in use"). So the ports picked here lie outside the ephemeral range, where
the kernel never assigns a port by itself, and outside the host ports the scheduler hands
replicas (a replica of `shoal up --driver exec` binds one later), and are checked free by
binding them.
"""

from __future__ import annotations

import random
import socket
from collections import deque
from pathlib import Path

from shoal.orchestration.scoring import DEFAULT_PORT_RANGE

# Linux: the range the kernel hands out local ports from (ip(7), "ip_local_port_range").
LINUX_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Elsewhere (BSDs, macOS): RFC 6335 section 6, "Dynamic Ports" 49152-65535.
DYNAMIC_PORTS = (49152, 65535)
# Below this are the ports people give their own services (5432, 6379, 8080, 9092, ...).
LOWEST = 10_000
ATTEMPTS = 64
# Ports handed out lately: picked ports stay unbound until their process starts, so a burst of
# picks (one per function) must not repeat itself.
_recent: deque[int] = deque(maxlen=256)


def ephemeral_range(source: Path = LINUX_EPHEMERAL_RANGE) -> tuple[int, int]:
    """The kernel's ephemeral port range, inclusive; RFC 6335's dynamic ports if unknown."""
    try:
        low, high = (int(field) for field in source.read_text().split())
    except (OSError, ValueError):
        return DYNAMIC_PORTS
    return low, high


def outside(
    ephemeral: tuple[int, int], lowest: int = LOWEST, reserved: range = DEFAULT_PORT_RANGE
) -> list[range]:
    """The port ranges from `lowest` up that the kernel never assigns on its own, less the
    `reserved` ones (the host ports the scheduler gives replicas, 30000-32767 by default)."""
    low, high = ephemeral
    ranges: list[range] = []
    for start, stop in ((lowest, min(low, 65536)), (max(high + 1, lowest), 65536)):
        ranges += [
            range(start, min(stop, reserved.start)),
            range(max(start, reserved.stop), stop),
        ]
    return [candidates for candidates in ranges if candidates]


def free_port(rng: random.Random | None = None) -> int:
    """A TCP port on 127.0.0.1 that nothing uses now, outside the ephemeral range when it can,
    and not one this process handed out lately.

    A port in use by anything, even a connection in TIME_WAIT, fails the probe's bind (no
    SO_REUSEADDR), so it is never handed out.
    """
    pick = rng or random.SystemRandom()
    ranges = outside(ephemeral_range())
    for _ in range(ATTEMPTS if ranges else 0):
        candidates = pick.choices(ranges, weights=[len(r) for r in ranges])[0]
        port = pick.choice(candidates)
        if port not in _recent and _bindable(port):
            _recent.append(port)
            return port
    with socket.socket() as probe:  # a crowded machine: any port the kernel gives
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
