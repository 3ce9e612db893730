"""The state store's errors. The type says what the caller should do.

- `Conflict`: another transaction won a race (version mismatch, SQLite write lock still busy after
  the busy timeout, PostgreSQL serialization failure or deadlock). Nothing was committed; re-run
  the whole transaction, reading afresh. `run_in_transaction` does exactly that.
- `StoreUnavailable`: the database cannot be reached or opened right now. Nothing was committed;
  retry later (a function answers 5xx and lets the broker's backoff do the waiting).
- `InvalidStateURL`: a configuration mistake; retrying cannot help.
- `LimitExceeded`: the database refuses what the transaction writes as beyond one of its limits
  (PostgreSQL SQLSTATE class 54, "program limit exceeded": e.g. a key too long for a btree index).
  Nothing was committed, and running the same transaction again fails the same way.
- `StateError` itself (not a subclass): anything else the store refuses, e.g. a database whose
  schema is newer than this Shoal understands.
"""

from __future__ import annotations


class StateError(Exception):
    """Base class of every error the state store raises."""


class Conflict(StateError):  # noqa: N818 - the interface's names
    """A concurrent transaction changed what this one read or wrote; re-run the transaction."""


class StoreUnavailable(StateError):  # noqa: N818 - the interface's names
    """The database cannot be reached or opened now; retry later."""


class InvalidStateURL(StateError):  # noqa: N818 - the interface's names
    """The state store URL is malformed or names an unsupported backend."""


class LimitExceeded(StateError):  # noqa: N818 - the interface's names
    """What the transaction writes is beyond a limit of the database; retrying cannot help."""
