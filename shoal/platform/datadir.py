"""One `shoal up` per data dir.

Two would run two brokers on one event log and two sets of functions on one state store (the
broker's log has a lock of its own as well; this one refuses before any function starts).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local_broker.exclusive import ExclusiveLock, LockHeld
from shoal.platform.plan import PlanError

LOCK_FILE = "up.lock"


@contextmanager
def own_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir/up.lock` for the block; PlanError naming the process that holds it."""
    try:
        lock = ExclusiveLock.acquire(data_dir / LOCK_FILE)
    except LockHeld as held:
        raise PlanError(
            f"another shoal up (process {held.holder or 'unknown'}) runs on {data_dir}: stop "
            "it (Ctrl-C there), or give this one another --data-dir"
        ) from None
    try:
        yield
    finally:
        lock.release()
