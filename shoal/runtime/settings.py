"""A function process's settings, read from its environment once, at the edge.

`SHOAL_STATE_URL` names the state store (`sqlite:///...` or `postgresql://...`); without it the
store is `state.db` in `SHOAL_DATA_DIR` (default `.shoal/`). `K_SINK` is where emitted events
go; Knative's SinkBinding sets it, `shoal up` sets it to the local broker. Without it a
function may emit at most one event per invocation, which becomes its reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(".shoal")
STATE_FILE = "state.db"


def sqlite_url(data_dir: Path) -> str:
    """The URL of the SQLite state store in `data_dir` (an absolute path)."""
    return f"sqlite:///{(data_dir / STATE_FILE).resolve()}"


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    state_url: str
    sink: str | None = None
    # The directory to create before opening the store: set when the state is the default file.
    data_dir: Path | None = None
    publish_timeout_seconds: float = 10.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RuntimeSettings:
        sink = environ.get("K_SINK") or None
        url = environ.get("SHOAL_STATE_URL")
        if url:
            return cls(state_url=url, sink=sink)
        data_dir = Path(environ.get("SHOAL_DATA_DIR") or DEFAULT_DATA_DIR)
        return cls(state_url=sqlite_url(data_dir), sink=sink, data_dir=data_dir)
