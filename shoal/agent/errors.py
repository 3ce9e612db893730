"""The agent's errors; the type says what happens next.

- `InvalidEvent`: an event the agent can never act on (wrong type, malformed data, a node this
  agent does not run). Answered 400, which the broker does not retry: the event goes to the
  Trigger's dead-letter sink, where a person can see it.
- `DriverError`: the driver could not start a replica (no such command, a bad spec). The agent
  reports the replica as exited with code 128 and the message as the reason; retrying the same
  spec would fail the same way, and the deployments function decides what to do next.

`shoal agent` exits with `EXIT_CANNOT_RUN` on an `AgentError` that ends it (no Docker engine, bad
settings: a restart would fail the same way until a person changes the configuration), and with
`EXIT_FAILED` when a restart may mend it (another agent holds its state folder, its port is taken).
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2
"""Also what argparse exits with on bad options: the same meaning, a usage mistake."""


class AgentError(Exception):
    """Base class of the agent's errors."""


class InvalidEvent(AgentError):  # noqa: N818 - reads as what it is, like InvalidSpec
    """The event cannot be acted on; the message says what is wrong with it."""


class DriverError(AgentError):
    """The driver cannot run the replica; the message says why, for the exited event's reason."""


class StateInUse(AgentError):  # noqa: N818 - reads as what it is, like InvalidEvent
    """Another agent runs on the same state folder; two would each start the same replicas."""
