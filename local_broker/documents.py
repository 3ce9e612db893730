"""One manifest document (a parsed YAML mapping) -> one Broker, Trigger or PingSource.

Validation happens here, at load time, so that nothing fails at delivery time: filters compile,
destinations resolve, durations and schedules parse. Errors are ManifestErrors whose reason
starts with the field at fault (`spec.delivery.retry: ...`); the loader adds file and resource.
Knative's rules are kept where Knative's webhook would refuse the same manifest, so that what
loads here also applies on Knative.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from local_broker.cesql import CesqlError
from local_broker.cron import CronError, CronSchedule, check_timezone
from local_broker.delivery_spec import (
    DEFAULT_DELIVERY,
    DeliverySpec,
    DeliverySpecError,
    parse_delivery_spec,
)
from local_broker.destinations import Addresses, Destination
from local_broker.filter_matching import Filter
from local_broker.filters import ATTRIBUTE_NAME, FilterError, compile_filter
from local_broker.manifest_fields import (
    Document,
    ManifestError,
    destination_field,
    list_field,
    mapping_field,
    read_metadata,
    resolve_destination,
    spec_of,
    string_field,
)
from local_broker.resources import PERIOD_ANNOTATION, Broker, BrokerKey, PingSource, Trigger

TRIGGER_TYPE = ("eventing.knative.dev/v1", "Trigger")
# Knative PingSourceSpec: "Schedule is the cron schedule. Defaults to `* * * * *`."
DEFAULT_SCHEDULE = "* * * * *"
DeliveryParts = tuple[DeliverySpec, Destination | None]


def parse_broker(document: Document, addresses: Addresses) -> Broker:
    metadata = read_metadata(document)
    parts = _delivery_parts(mapping_field(document.get("spec"), "spec").get("delivery"))
    if parts is None:
        return Broker(metadata.namespace, metadata.name, DEFAULT_DELIVERY)
    return Broker(
        metadata.namespace, metadata.name, _resolved(parts, addresses, metadata.namespace)
    )


def parse_trigger(
    document: Document,
    *,
    brokers: Mapping[BrokerKey, Broker],
    addresses: Addresses,
    source_file: Path,
    on_cesql_error: Callable[[CesqlError], None] | None = None,
) -> Trigger:
    metadata = read_metadata(document)
    broker_name, filter_, subscriber, delivery = _trigger_parts(document, on_cesql_error)
    broker = brokers.get((metadata.namespace, broker_name))
    if broker is None:
        known = ", ".join(sorted("/".join(key) for key in brokers)) or "none"
        raise ManifestError(
            f"spec.broker: there is no Broker {broker_name!r} in namespace "
            f"{metadata.namespace!r} (Brokers: {known}); add one or fix spec.broker"
        )
    # Knative control-plane spec, "Broker", spec.delivery: a Trigger's own delivery options
    # replace the Broker's entirely.
    if delivery is None:
        effective = broker.delivery
    else:
        effective = _resolved(delivery, addresses, metadata.namespace)
    return Trigger(
        namespace=metadata.namespace,
        name=metadata.name,
        broker=broker_name,
        filter=filter_,
        subscriber=resolve_destination(
            subscriber, "spec.subscriber", addresses, metadata.namespace
        ),
        delivery=effective,
        source_file=source_file,
    )


def validate_trigger_document(document: Document) -> None:
    """Check one Trigger document on its own, as Knative's webhook would: kind, metadata,
    filters, subscriber and delivery. Refs are not resolved and the Broker need not exist."""
    if (document.get("apiVersion"), document.get("kind")) != TRIGGER_TYPE:
        raise ManifestError(f"not a Trigger: expected apiVersion {TRIGGER_TYPE[0]}, kind Trigger")
    metadata = read_metadata(document)
    try:
        _trigger_parts(document, None)
    except ManifestError as error:
        raise error.located(None, f"Trigger {metadata.namespace}/{metadata.name}") from error


def _trigger_parts(
    document: Document, on_cesql_error: Callable[[CesqlError], None] | None
) -> tuple[str, Filter, Destination, DeliveryParts | None]:
    spec = spec_of(document)
    broker = string_field(spec.get("broker"), "spec.broker")
    if not broker:
        raise ManifestError("spec.broker is required: the name of the Broker to subscribe to")
    filter_block = mapping_field(spec.get("filter"), "spec.filter")
    try:
        filter_ = compile_filter(
            mapping_field(filter_block.get("attributes"), "spec.filter.attributes") or None,
            list_field(spec.get("filters"), "spec.filters"),
            on_cesql_error=on_cesql_error,
        )
    except FilterError as error:
        raise ManifestError(f"spec.{error.reason}") from error
    subscriber = destination_field(spec.get("subscriber"), "spec.subscriber")
    return broker, filter_, subscriber, _delivery_parts(spec.get("delivery"))


def parse_ping_source(document: Document, addresses: Addresses) -> PingSource:
    metadata = read_metadata(document)
    spec = spec_of(document)
    timezone = string_field(spec.get("timezone"), "spec.timezone") or None
    if timezone is not None:
        try:
            check_timezone(timezone)
        except CronError as error:
            raise ManifestError(f"spec.timezone: {error}") from error
    schedule_text = string_field(spec.get("schedule"), "spec.schedule") or DEFAULT_SCHEDULE
    try:
        schedule = CronSchedule.parse(schedule_text, timezone=timezone)
    except CronError as error:
        raise ManifestError(f"spec.schedule: {error}") from error
    period = _period_seconds(metadata.annotations.get(PERIOD_ANNOTATION))
    content_type = string_field(spec.get("contentType"), "spec.contentType") or None
    sink = destination_field(spec.get("sink"), "spec.sink")
    return PingSource(
        namespace=metadata.namespace,
        name=metadata.name,
        schedule=None if period is not None else schedule,
        period_seconds=period,
        timezone=schedule.timezone,
        data=_ping_data(spec, content_type),
        content_type=content_type,
        sink=resolve_destination(sink, "spec.sink", addresses, metadata.namespace),
        ce_overrides=_ce_overrides(spec.get("ceOverrides")),
    )


def _period_seconds(value: object) -> float | None:
    if value is None:
        return None
    where = f"metadata.annotations[{PERIOD_ANNOTATION}]"
    if not isinstance(value, str):
        raise ManifestError(f"{where}: annotations are strings; quote the number: '{value}'")
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ManifestError(f"{where}: {value!r} is not a number of seconds above zero")
    return seconds


def _ping_data(spec: Mapping[str, object], content_type: str | None) -> bytes | None:
    text = string_field(spec.get("data"), "spec.data") or None
    encoded = string_field(spec.get("dataBase64"), "spec.dataBase64") or None
    if text is not None and encoded is not None:
        raise ManifestError("spec.data and spec.dataBase64 are exclusive; keep one")
    if encoded is not None:
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise ManifestError(f"spec.dataBase64: not valid base64 ({error})") from error
        field = "spec.dataBase64"
    elif text is not None:
        data, field = text.encode(), "spec.data"
    else:
        return None
    # Knative's webhook insists that JSON data be a JSON object.
    if content_type == "application/json":
        try:
            is_object = isinstance(json.loads(data), dict)
        except ValueError:
            is_object = False
        if not is_object:
            raise ManifestError(
                f"{field}: contentType is application/json, so it must hold a JSON object"
            )
    return data


def _ce_overrides(value: object) -> tuple[tuple[str, str], ...]:
    overrides = mapping_field(value, "spec.ceOverrides")
    extensions = mapping_field(overrides.get("extensions"), "spec.ceOverrides.extensions")
    pairs: list[tuple[str, str]] = []
    for name, extension in extensions.items():
        where = f"spec.ceOverrides.extensions.{name}"
        if not ATTRIBUTE_NAME.fullmatch(name):
            raise ManifestError(f"{where}: extension names are lower-case letters and digits")
        if not isinstance(extension, str):
            raise ManifestError(f"{where}: the value must be a string; quote it in YAML")
        pairs.append((name, extension))
    return tuple(sorted(pairs))


def _delivery_parts(value: object) -> DeliveryParts | None:
    """A parsed `spec.delivery`; None when there is none or it is empty (it sets no option)."""
    block = mapping_field(value, "spec.delivery")
    if not block:
        return None
    try:
        return parse_delivery_spec(block)
    except DeliverySpecError as error:
        raise ManifestError(f"spec.delivery.{error.field}: {error.reason}") from error


def _resolved(parts: DeliveryParts, addresses: Addresses, namespace: str) -> DeliverySpec:
    spec, dead_letter_sink = parts
    if dead_letter_sink is None:
        return spec
    where = "spec.delivery.deadLetterSink"
    return replace(
        spec, dead_letter_sink=resolve_destination(dead_letter_sink, where, addresses, namespace)
    )
