"""A function process's settings, read from its environment once, at the edge.

`SHOAL_STATE_URL` names the state store (`sqlite:///...` or `postgresql://...`); without it the
store is `state.db` in `SHOAL_DATA_DIR` (default `.shoal/`). `K_SINK` is where emitted events
go; Knative's SinkBinding sets it, `shoal up` sets it to the local broker. Without it a
function may emit at most one event per invocation, which becomes its reply.

`SHOAL_SINK_BATCH=1` sends an outbox of several events to `K_SINK` as batched-mode requests
(`application/cloudevents-batch+json`, CloudEvents HTTP binding 3.3.3) instead of one request
per event. The local broker takes batches and `shoal up` turns this on; Knative's broker ingress
takes single events only, so it is off by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(".shoal")
STATE_FILE = "state.db"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


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
    sink_batch: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RuntimeSettings:
        sink = environ.get("K_SINK") or None
        batch = _flag(environ, "SHOAL_SINK_BATCH")
        url = environ.get("SHOAL_STATE_URL")
        if url:
            return cls(state_url=url, sink=sink, sink_batch=batch)
        data_dir = Path(environ.get("SHOAL_DATA_DIR") or DEFAULT_DATA_DIR)
        return cls(state_url=sqlite_url(data_dir), sink=sink, data_dir=data_dir, sink_batch=batch)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValueError(f"{name}={environ[name]!r} is not a yes/no setting: use 1 or 0")
