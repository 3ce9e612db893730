"""Why a deploy cannot go on. Every message says what is wrong and what to do about it."""

from __future__ import annotations


class DeployError(Exception):
    """Permanent for this invocation: fix what the message says and run the command again."""
