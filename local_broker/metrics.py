"""Prometheus metrics of one broker instance (its own registry, so several can share a process).

`labels()` costs a lock and a tuple lookup each time: hot paths take their labelled children
once (`for_trigger`, `for_broker`) and keep them.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class TriggerMetrics:
    """One Trigger's labelled children."""

    delivered: Counter
    retried: Counter
    dead_lettered: Counter
    replies: Counter
    latency: Histogram


@dataclass(frozen=True, slots=True)
class IngressMetrics:
    """One Broker's labelled children."""

    accepted: Counter
    duplicates: Counter


class BrokerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._ingress: dict[str, IngressMetrics] = {}
        self.accepted = Counter(
            "broker_events_accepted",
            "Events durably accepted at ingress",
            ["broker"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "broker_events_duplicate",
            "Events answered 202 but not stored again: (source, id) seen within the window",
            ["broker"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "broker_events_rejected",
            "Requests refused at ingress, by reason",
            ["broker", "reason"],
            registry=self.registry,
        )
        self.delivered = Counter(
            "broker_deliveries_succeeded",
            "Events delivered to a subscriber (2xx)",
            ["trigger"],
            registry=self.registry,
        )
        self.retried = Counter(
            "broker_delivery_retries",
            "Delivery attempts that failed and were retried",
            ["trigger"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "broker_deliveries_dead_lettered",
            "Events that exhausted their retries (sent to the dead-letter sink or store)",
            ["trigger"],
            registry=self.registry,
        )
        self.filter_errors = Counter(
            "broker_filter_errors",
            "CESQL filter evaluations that reported an error (the event did not match)",
            ["trigger"],
            registry=self.registry,
        )
        self.replies = Counter(
            "broker_replies_ingested",
            "Reply events from subscribers fed back into the broker",
            ["trigger"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "broker_delivery_latency_seconds",
            "Time from ingress arrival to the subscriber's 2xx",
            ["trigger"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def for_trigger(self, trigger: str) -> TriggerMetrics:
        return TriggerMetrics(
            delivered=self.delivered.labels(trigger),
            retried=self.retried.labels(trigger),
            dead_lettered=self.dead_lettered.labels(trigger),
            replies=self.replies.labels(trigger),
            latency=self.latency.labels(trigger),
        )

    def for_broker(self, broker: str) -> IngressMetrics:
        children = self._ingress.get(broker)
        if children is None:
            children = IngressMetrics(self.accepted.labels(broker), self.duplicates.labels(broker))
            self._ingress[broker] = children
        return children

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
