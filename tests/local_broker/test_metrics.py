"""The per-event tallies come out of /metrics as ordinary Prometheus counters and histograms."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from local_broker.metrics import BrokerMetrics


def samples(metrics: BrokerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_deliveries_and_their_latency_histogram() -> None:
    metrics = BrokerMetrics()
    tally = metrics.for_trigger("default/t")
    for seconds in (0.0005, 0.001, 0.003, 0.003, 20.0):
        tally.record(seconds)
    got = samples(metrics)
    trigger = (("trigger", "default/t"),)
    assert got["broker_deliveries_succeeded_total", trigger] == 5
    bucket = "broker_delivery_latency_seconds_bucket"
    assert got[bucket, (("le", "0.001"), *trigger)] == 2  # upper bounds are inclusive
    assert got[bucket, (("le", "0.0025"), *trigger)] == 2
    assert got[bucket, (("le", "0.005"), *trigger)] == 4
    assert got[bucket, (("le", "10.0"), *trigger)] == 4
    assert got[bucket, (("le", "+Inf"), *trigger)] == 5
    assert got["broker_delivery_latency_seconds_count", trigger] == 5
    assert abs(got["broker_delivery_latency_seconds_sum", trigger] - 20.0075) < 1e-9


def test_accepted_and_duplicates_per_broker() -> None:
    metrics = BrokerMetrics()
    ingress = metrics.for_broker("default/default")
    assert metrics.for_broker("default/default") is ingress
    ingress.accepted += 3
    ingress.duplicates += 1
    got = samples(metrics)
    broker = (("broker", "default/default"),)
    assert got["broker_events_accepted_total", broker] == 3
    assert got["broker_events_duplicate_total", broker] == 1


def test_counts_from_the_delivery_process_add_to_this_process_s() -> None:
    delivery_process = BrokerMetrics()
    counted_there = delivery_process.for_trigger("default/t")
    counted_there.record(0.002)
    counted_there.retried += 2
    counted_there.dead_lettered += 1
    counted_there.replies += 1
    delivery_process.for_trigger("default/quiet")
    metrics = BrokerMetrics()
    metrics.for_trigger("default/t").filter_errors += 3  # counted where the config was loaded
    metrics.count_elsewhere(delivery_process.snapshot())
    got = samples(metrics)
    trigger = (("trigger", "default/t"),)
    assert got["broker_deliveries_succeeded_total", trigger] == 1
    assert got["broker_delivery_latency_seconds_bucket", (("le", "0.0025"), *trigger)] == 1
    assert got["broker_delivery_retries_total", trigger] == 2
    assert got["broker_deliveries_dead_lettered_total", trigger] == 1
    assert got["broker_replies_ingested_total", trigger] == 1
    assert got["broker_filter_errors_total", trigger] == 3
    assert got["broker_deliveries_succeeded_total", (("trigger", "default/quiet"),)] == 0
    # A later snapshot replaces the earlier one: counts are not added twice.
    counted_there.record(0.002)
    metrics.count_elsewhere(delivery_process.snapshot())
    assert samples(metrics)["broker_deliveries_succeeded_total", trigger] == 2
