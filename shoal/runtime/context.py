"""What a handler gets besides the event: the state transaction, a logger and the time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shoal.runtime.logs import FunctionLogger
from shoal.state import Transaction


@dataclass(frozen=True, slots=True)
class Context:
    """One invocation's context.

    `state` is the invocation's transaction: everything read and written through it commits
    together with the inbox record and the emitted events, or not at all. Do no other I/O in a
    handler: on a `Conflict` the runtime runs it again in a fresh transaction.
    """

    function: str
    state: Transaction
    log: FunctionLogger
    clock: Callable[[], datetime]

    def now(self) -> datetime:
        """The current time (UTC); tests pass a fixed clock."""
        return self.clock()
