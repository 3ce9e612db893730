"""Fixtures for broker tests: manifests written to a temp folder, events to post."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_broker.event import CloudEvent

_ids = itertools.count(1)


def make_event(type_: str = "dev.shoal.test", **attributes: Any) -> CloudEvent:
    base: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"event-{next(_ids)}",
        "source": "/tests",
        "type": type_,
    }
    data = attributes.pop("data", None)
    base.update(attributes)
    if data is not None and "datacontenttype" not in base:
        base["datacontenttype"] = "application/json"
    return CloudEvent(base, data)


def trigger(
    name: str,
    subscriber: str,
    *,
    broker: str = "default",
    attributes: Mapping[str, str] | None = None,
    filters: list[Any] | None = None,
    delivery: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"broker": broker, "subscriber": {"uri": subscriber}}
    if attributes is not None:
        spec["filter"] = {"attributes": dict(attributes)}
    if filters is not None:
        spec["filters"] = filters
    if delivery is not None:
        spec["delivery"] = dict(delivery)
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": spec,
    }


def broker(name: str = "default", delivery: Mapping[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": name},
    }
    if delivery is not None:
        doc["spec"] = {"delivery": dict(delivery)}
    return doc


# Fast retries keep tests quick; the defaults (10 retries from 0.2 s) would take minutes.
FAST_RETRIES = 2
# Structured events that are valid JSON but hold data the broker could not carry on unchanged
# (a number beyond a double; text its charset cannot encode), with their test ids.
UNCARRIABLE_EVENTS = [
    b'{"specversion":"1.0","id":"r","source":"/r","type":"reply","data":1e999}',
    b'{"specversion":"1.0","id":"r","source":"/r","type":"reply",'
    b'"datacontenttype":"text/plain; charset=idna","data":"' + b"a" * 100 + b'"}',
]
UNCARRIABLE_IDS = ["number-beyond-a-double", "data-its-charset-cannot-encode"]
FAST_DELIVERY = {"retry": FAST_RETRIES, "backoffPolicy": "linear", "backoffDelay": "PT0.05S"}


class ManifestFolder:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, filename: str, *documents: Mapping[str, Any]) -> Path:
        path = self.root / filename
        path.write_text(yaml.safe_dump_all(list(documents)))
        return path


@pytest.fixture
def manifest_folder(tmp_path: Path) -> ManifestFolder:
    root = tmp_path / "manifests"
    root.mkdir()
    return ManifestFolder(root)
