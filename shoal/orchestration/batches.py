"""How many replicas go into one event: request shares, and news grouped by node.

Replica events carry lists (`shoal.events`): one event per invocation and node rather than one
per replica, because each event costs a broker ingest, a delivery per Trigger and an invocation
of every function that subscribes, whatever it carries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

__all__ = [
    "MAX_REPLICAS_PER_REQUEST",
    "MIN_REPLICAS_PER_REQUEST",
    "REQUEST_SPREAD",
    "grouped",
    "shares",
]

T = TypeVar("T")

MAX_REPLICAS_PER_REQUEST = 2500
"""Names per `replica.requested`. The scheduler places each request in an invocation of its
own, so the requests of a large deployment are placed one after the other, each holding the
state store's write lock for about a second rather than one for many (about 10 s for 10,000
replicas on a busy two-core machine, while no heartbeat could be recorded). Not smaller: an
invocation sends one `replica.scheduled` per node it placed replicas on, so on 1,000 nodes
shares of 500 meant about one event per replica (9,968 for 10,000), the eight shares of 1,250
that 10,000 now make one per five (2,003); each event is a delivery to an agent and an audit
invocation."""
MIN_REPLICAS_PER_REQUEST = 100
REQUEST_SPREAD = 8
"""Requests are split into up to this many shares of at least MIN_REPLICAS_PER_REQUEST names.
A lost node's 100 replacements are one request: placing reads every Node once per invocation
(1,000 at 1,000 nodes), and the `replica.scheduled` events of one invocation are published
together (one per node), so more, smaller requests only add reads (four shares of 25 took 0.3 s
more of a failover at 1,000 nodes)."""


def shares(
    names: Sequence[str],
    *,
    largest: int = MAX_REPLICAS_PER_REQUEST,
    smallest: int = MIN_REPLICAS_PER_REQUEST,
    spread: int = REQUEST_SPREAD,
) -> list[Sequence[str]]:
    """`names` in consecutive shares for as many `replica.requested`: up to `spread` shares of
    at least `smallest` names, more when that makes a share larger than `largest`."""
    even = -(-len(names) // spread)
    size = min(largest, max(smallest, even))
    return [names[start : start + size] for start in range(0, len(names), size)]


def grouped(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    """`items` by `key`, each group in the items' order, the groups in order of first appearance."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups
