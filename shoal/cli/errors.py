"""The CLI's errors: each one is reported as `shoal <command>: <message>` and exit status 1.

The message says what was wrong and how to fix it; nothing is retried by raising them.
"""

from __future__ import annotations


class CliError(Exception):
    """A failure to report to the user."""


class ConfigError(CliError):
    """The config file or the chosen context cannot be used (named in the message)."""


class RequestError(CliError):
    """The broker or the API could not be reached, or refused the request."""


class NotFound(RequestError):  # noqa: N818 -- reads as the API's answer
    """The API has no such thing (404); the message is the API's."""
