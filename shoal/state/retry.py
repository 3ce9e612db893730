"""Re-running a transaction that lost a race (`Conflict`)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from shoal.state.errors import Conflict
from shoal.state.interface import StateStore, Transaction

T = TypeVar("T")

FIRST_BACKOFF_SECONDS = 0.005
MAX_BACKOFF_SECONDS = 0.2


def run_in_transaction(
    store: StateStore, fn: Callable[[Transaction], T], *, attempts: int = 5
) -> T:
    """Run `fn` in a transaction and return its result, re-running it on `Conflict`.

    Each attempt is a fresh transaction, so `fn` must derive everything from what it reads and
    must not have effects outside the store (they would happen once per attempt). Between
    attempts it sleeps a random ("full jitter") share of an exponentially growing backoff, so
    colliding writers spread out instead of colliding again. After `attempts` tries the last
    `Conflict` propagates; every other exception propagates at once, the transaction rolled back.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    for attempt in range(attempts - 1):
        try:
            with store.transaction() as tx:
                return fn(tx)
        except Conflict:
            backoff = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2**attempt)
            time.sleep(random.uniform(0, backoff))
    with store.transaction() as tx:
        return fn(tx)
