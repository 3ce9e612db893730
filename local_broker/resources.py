"""The broker's configuration as loaded from manifests: Brokers, Triggers and PingSources.

Everything here is resolved and validated: filters are compiled, destinations are URLs,
durations are seconds. Values are frozen and compare by content, so loading unchanged
manifests twice gives equal objects (the runtime restarts only what changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from local_broker.cron import CronSchedule
from local_broker.delivery_spec import DeliverySpec
from local_broker.filter_matching import Filter

BrokerKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Broker:
    """`delivery` is the default for its Triggers: the Broker's own block, or DEFAULT_DELIVERY."""

    namespace: str
    name: str
    delivery: DeliverySpec

    @property
    def key(self) -> BrokerKey:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class Trigger:
    """One Trigger; `delivery` is the one that applies (its own block, or its Broker's)."""

    namespace: str
    name: str
    broker: str
    filter: Filter
    subscriber: str
    delivery: DeliverySpec
    source_file: Path

    @property
    def key(self) -> str:
        """`namespace/name`: unique among Triggers, stable across reloads."""
        return f"{self.namespace}/{self.name}"

    @property
    def dead_letter_sink(self) -> str | None:
        return self.delivery.dead_letter_sink


# Local-only: ticks every N seconds instead of on `spec.schedule` (Knative ignores annotations it
# does not know, so the same manifest keeps its cron schedule there).
PERIOD_ANNOTATION = "shoal.dev/period-seconds"


@dataclass(frozen=True, slots=True)
class PingSource:
    """A PingSource. Exactly one of `schedule` and `period_seconds` is set: the period when the
    `shoal.dev/period-seconds` annotation is there. `timezone` None means UTC."""

    namespace: str
    name: str
    schedule: CronSchedule | None
    period_seconds: float | None
    timezone: str | None
    data: bytes | None
    content_type: str | None
    sink: str
    # `spec.ceOverrides.extensions`: extension attributes to set on every event, sorted by name.
    ce_overrides: tuple[tuple[str, str], ...] = ()

    @property
    def source(self) -> str:
        """The CloudEvents `source` of its events, as Knative's PingSource sets it."""
        return f"/apis/v1/namespaces/{self.namespace}/pingsources/{self.name}"


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """All that the manifests configure. With no Broker in them, `default/default` exists."""

    brokers: dict[BrokerKey, Broker]
    triggers: list[Trigger]
    ping_sources: list[PingSource]
    # What it was built from (manifests.read_documents): a delivery process builds the same
    # Triggers from it (deliveryhost.py), since compiled filters do not pickle.
    documents: tuple[tuple[Path, Mapping[str, object]], ...] = field(default=(), compare=False)
