"""The broker's settings: one dataclass, filled from CLI options at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Knative's Kafka broker refuses records above 1 MiB by default (max.request.size); so do we.
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
# Deliveries still in flight at shutdown get this long before they are cancelled (and, behind
# the cursor, delivered again after the restart).
SHUTDOWN_GRACE_SECONDS = 5.0
# How often the Triggers' cursors are saved (and Triggers that matched nothing lately move on).
CURSOR_FLUSH_SECONDS = 0.5
# The garbage collector's thresholds in the broker's processes (server.py says why).
GC_THRESHOLDS = (50_000, 20, 10)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    manifests: tuple[Path, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".shoal")
    services: Mapping[str, str] = field(default_factory=dict)
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    retention_seconds: float = 24 * 3600.0
    dedup_window_seconds: float = 600.0
    # Where the log's group commits run: "thread" (in the broker's process) or "process" (a
    # writer process of its own, which does not share the event loop's GIL: writerprocess.py).
    log_writer: str = "process"
    # Where the Triggers' dispatchers run: "process" (a delivery process of its own, beside
    # the ingress's event loop: deliveryhost.py) or "inline" (on the ingress's event loop).
    delivery: str = "process"
    reload_interval_seconds: float = 1.0
    # Deliveries in flight per Trigger: bounds memory and keeps one slow subscriber from
    # stalling the others (each Trigger has its own window).
    in_flight_per_trigger: int = 100

    def log_path(self, broker: tuple[str, str]) -> Path:
        """The file of a Broker's event log."""
        namespace, name = broker
        return self.data_dir / "brokers" / namespace / f"{name}.db"

    def broker_url(self, namespace: str, name: str) -> str:
        return f"http://{self.host}:{self.port}/{namespace}/{name}"
