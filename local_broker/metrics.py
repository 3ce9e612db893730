"""Prometheus metrics of one broker instance (its own registry, so several can share a process).

What happens per event or per delivery (accepted, delivered, the latency histogram, retries,
dead letters, replies, filter errors) is counted in plain numbers read at scrape time
(`_Tallies`): a prometheus_client child takes a lock per update, which cost 2 to 3 us per event,
and plain numbers travel from a delivery process of its own (`snapshot`, `count_elsewhere`).
Hot paths take their tallies once (`for_trigger`, `for_broker`) and keep them. All of it
happens on the event loop's thread.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class TriggerTally:
    """One Trigger's counts: deliveries and their latency histogram, retries, dead letters,
    replies, CESQL filter errors. Plain numbers, so a delivery process can send them over
    (`BrokerMetrics.snapshot`)."""

    __slots__ = (
        "buckets",
        "dead_lettered",
        "delivered",
        "filter_errors",
        "latency_sum",
        "replies",
        "retried",
    )

    def __init__(self) -> None:
        self.delivered = 0
        self.latency_sum = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.retried = 0
        self.dead_lettered = 0
        self.replies = 0
        self.filter_errors = 0

    def record(self, latency_seconds: float) -> None:
        """A successful delivery, `latency_seconds` after the event arrived."""
        self.delivered += 1
        self.latency_sum += latency_seconds
        # Prometheus buckets are upper bounds, inclusive ("le").
        self.buckets[bisect_left(LATENCY_BUCKETS, latency_seconds)] += 1

    def values(self) -> TallyValues:
        return (
            self.delivered,
            self.latency_sum,
            list(self.buckets),
            self.retried,
            self.dead_lettered,
            self.replies,
            self.filter_errors,
        )

    def add(self, values: TallyValues) -> None:
        delivered, latency_sum, buckets, retried, dead_lettered, replies, filter_errors = values
        self.delivered += delivered
        self.latency_sum += latency_sum
        self.buckets = [mine + theirs for mine, theirs in zip(self.buckets, buckets, strict=True)]
        self.retried += retried
        self.dead_lettered += dead_lettered
        self.replies += replies
        self.filter_errors += filter_errors


# TriggerTally.values(): delivered, latency sum, buckets, retried, dead-lettered, replies,
# filter errors.
TallyValues = tuple[int, float, list[int], int, int, int, int]
# Each Trigger's values, by its key.
TriggerSnapshot = dict[str, TallyValues]


class IngressTally:
    """One Broker's accepted events and duplicates."""

    __slots__ = ("accepted", "duplicates")

    def __init__(self) -> None:
        self.accepted = 0
        self.duplicates = 0


def _trigger_counter(name: str, documentation: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, labels=["trigger"])


class _Tallies(Collector):
    def __init__(self) -> None:
        self.triggers: dict[str, TriggerTally] = {}
        self.brokers: dict[str, IngressTally] = {}
        self.elsewhere: TriggerSnapshot = {}  # counted in the delivery process

    def _merged(self) -> dict[str, TriggerTally]:
        merged: dict[str, TriggerTally] = {}
        for key, tally in list(self.triggers.items()):
            merged.setdefault(key, TriggerTally()).add(tally.values())
        for key, values in list(self.elsewhere.items()):
            merged.setdefault(key, TriggerTally()).add(values)
        return merged

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
        delivered = _trigger_counter(
            "broker_deliveries_succeeded", "Events delivered to a subscriber (2xx)"
        )
        latency = HistogramMetricFamily(
            "broker_delivery_latency_seconds",
            "Time from ingress arrival to the subscriber's 2xx",
            labels=["trigger"],
        )
        retried = _trigger_counter(
            "broker_delivery_retries", "Delivery attempts that failed and were retried"
        )
        dead_lettered = _trigger_counter(
            "broker_deliveries_dead_lettered",
            "Events that exhausted their retries (sent to the dead-letter sink or store)",
        )
        replies = _trigger_counter(
            "broker_replies_ingested", "Reply events from subscribers fed back into the broker"
        )
        filter_errors = _trigger_counter(
            "broker_filter_errors",
            "CESQL filter evaluations that reported an error (the event did not match)",
        )
        bounds = [*(str(bound) for bound in LATENCY_BUCKETS), "+Inf"]
        for trigger, tally in self._merged().items():
            delivered.add_metric([trigger], tally.delivered)
            cumulative = list(zip(bounds, accumulate(tally.buckets), strict=True))
            latency.add_metric([trigger], cumulative, tally.latency_sum)
            retried.add_metric([trigger], tally.retried)
            dead_lettered.add_metric([trigger], tally.dead_lettered)
            replies.add_metric([trigger], tally.replies)
            if tally.filter_errors:
                filter_errors.add_metric([trigger], tally.filter_errors)
        yield from (accepted, duplicates, delivered, latency)
        yield from (retried, dead_lettered, replies, filter_errors)


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

    def for_trigger(self, trigger: str) -> TriggerTally:
        return self._tallies.triggers.setdefault(trigger, TriggerTally())

    def for_broker(self, broker: str) -> IngressTally:
        return self._tallies.brokers.setdefault(broker, IngressTally())

    def snapshot(self) -> TriggerSnapshot:
        """Every Trigger's counts as plain data (a delivery process sends them over)."""
        return {key: tally.values() for key, tally in list(self._tallies.triggers.items())}

    def count_elsewhere(self, snapshot: TriggerSnapshot) -> None:
        """The delivery process's latest `snapshot`: the exposition adds it to these counts."""
        self._tallies.elsewhere = snapshot

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
