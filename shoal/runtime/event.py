"""What a handler receives (`Event`) and what it returns (`Emit`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shoal.runtime.errors import PermanentError


@dataclass(frozen=True, slots=True)
class Event:
    """The CloudEvent being handled.

    `data` is the decoded JSON value when the event's data is JSON (`datacontenttype`
    `application/json`, `...+json`, or absent in structured mode), the raw bytes otherwise
    (structured mode: `data_base64` decoded, or a string `data` in its type's charset), and
    None when the event has no data. `extensions` holds every other attribute.
    """

    id: str
    source: str
    type: str
    specversion: str = "1.0"
    subject: str | None = None
    time: str | None = None
    datacontenttype: str | None = None
    data: object = None
    extensions: Mapping[str, object] = field(default_factory=dict)

    def data_object(self) -> Mapping[str, object]:
        """The data as a JSON object; a PermanentError (dead-letter it) when it is not one."""
        if not isinstance(self.data, Mapping):
            raise PermanentError(
                f"event {self.id!r} ({self.type}) has no JSON object as data: {self.data!r:.100}"
            )
        return self.data


@dataclass(frozen=True, slots=True)
class Emit:
    """One event to emit. The runtime sets `id` (deterministic), `source` (`/shoal/<function>`),
    `time` and `specversion`; `data` is sent as `application/json`.

    `extensions` are extra attributes, e.g. `{events.NODE_EXTENSION: "node-1"}` so that one
    node's agent can filter on it.
    """

    type: str
    data: Mapping[str, object] | None = None
    subject: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)
