"""What can go wrong with the durable log, and whether trying again can help.

`retryable` tells the ingress what to answer: a retryable error means "nothing was stored, try
again later" (HTTP 503); a permanent one means an operator has to look at the log file.
"""

from __future__ import annotations


class LogError(Exception):
    """Base of the durable log's errors."""

    retryable = True


# The names below are the broker's public vocabulary (ingress catches `LogClosed`); they read
# better without an "Error" suffix, hence the N818 exemptions.
class LogClosed(LogError):  # noqa: N818
    """The log is closing or closed: it accepts no more writes (the broker is shutting down)."""


class LogWriteFailed(LogError):  # noqa: N818
    """A group commit failed (disk full, I/O error): none of the writes in it were stored."""


class LogCorrupt(LogError):  # noqa: N818
    """The log file is not a Shoal event log, is damaged, or was written by a newer broker."""

    retryable = False


class LogInUse(LogError):  # noqa: N818
    """Another process has the log open; two writers would each miss the other's events."""

    retryable = False
