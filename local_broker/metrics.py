"""Prometheus metrics of one broker instance (its own registry, so several can share a process).

`labels()` costs a lock and a tuple lookup each time: hot paths take their labelled children
once (`for_trigger`, `for_broker`) and keep them. What happens once per event (accepted,
delivered, the latency histogram) is counted in plain integers read at scrape time (`_Tallies`):
a prometheus_client child takes a lock per update, which cost 2 to 3 us per event. All of it
happens on the event loop's thread.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class DeliveryTally:
    """One Trigger's successful deliveries and their latency histogram."""

    __slots__ = ("buckets", "delivered", "latency_sum")

    def __init__(self) -> None:
        self.delivered = 0
        self.latency_sum = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf

    def record(self, latency_seconds: float) -> None:
        self.delivered += 1
        self.latency_sum += latency_seconds
        # Prometheus buckets are upper bounds, inclusive ("le").
        self.buckets[bisect_left(LATENCY_BUCKETS, latency_seconds)] += 1


class IngressTally:
    """One Broker's accepted events and duplicates."""

    __slots__ = ("accepted", "duplicates")

    def __init__(self) -> None:
        self.accepted = 0
        self.duplicates = 0


@dataclass(frozen=True, slots=True)
class TriggerMetrics:
    """One Trigger's labelled children."""

    deliveries: DeliveryTally
    retried: Counter
    dead_lettered: Counter
    replies: Counter


class _Tallies(Collector):
    def __init__(self) -> None:
        self.triggers: dict[str, DeliveryTally] = {}
        self.brokers: dict[str, IngressTally] = {}

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        accepted = CounterMetricFamily(
            "broker_events_accepted", "Events durably accepted at ingress", labels=["broker"]
        )
        duplicates = CounterMetricFamily(
            "broker_events_duplicate",
            "Events answered 202 but not stored again: (source, id) seen within the window",
            labels=["broker"],
        )
        for broker, ingress in list(self.brokers.items()):
            accepted.add_metric([broker], ingress.accepted)
            duplicates.add_metric([broker], ingress.duplicates)
        delivered = CounterMetricFamily(
            "broker_deliveries_succeeded",
            "Events delivered to a subscriber (2xx)",
            labels=["trigger"],
        )
        latency = HistogramMetricFamily(
            "broker_delivery_latency_seconds",
            "Time from ingress arrival to the subscriber's 2xx",
            labels=["trigger"],
        )
        bounds = [*(str(bound) for bound in LATENCY_BUCKETS), "+Inf"]
        for trigger, tally in list(self.triggers.items()):
            delivered.add_metric([trigger], tally.delivered)
            cumulative = list(zip(bounds, accumulate(tally.buckets), strict=True))
            latency.add_metric([trigger], cumulative, tally.latency_sum)
        yield from (accepted, duplicates, delivered, latency)


class BrokerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._tallies = _Tallies()
        self.registry.register(self._tallies)
        self.rejected = Counter(
            "broker_events_rejected",
            "Requests refused at ingress, by reason",
            ["broker", "reason"],
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

    def for_trigger(self, trigger: str) -> TriggerMetrics:
        deliveries = self._tallies.triggers.setdefault(trigger, DeliveryTally())
        return TriggerMetrics(
            deliveries=deliveries,
            retried=self.retried.labels(trigger),
            dead_lettered=self.dead_lettered.labels(trigger),
            replies=self.replies.labels(trigger),
        )

    def for_broker(self, broker: str) -> IngressTally:
        return self._tallies.brokers.setdefault(broker, IngressTally())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
