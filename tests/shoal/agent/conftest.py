"""Fixtures for the agent's tests: a real local broker whose stand-in for the orchestration
functions is a RecordingSink subscribed to every `dev.shoal.*` event, a manifests folder the
broker watches, where agents write their Triggers, and an exec driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from local_broker.server import BrokerServer
from local_broker.testing import RecordingSink, running_broker
from shoal.agent.exec import ExecDriver
from tests.shoal.agent.support import close_driver, wait_until


@dataclass(frozen=True)
class Platform:
    sink: RecordingSink
    broker: BrokerServer
    manifests: Path

    @property
    def ingress(self) -> str:
        return self.broker.ingress_url()

    async def wait_for_trigger(self, name: str) -> None:
        def loaded() -> bool:
            config = self.broker.runtime.config
            return config is not None and any(t.name == name for t in config.triggers)

        await wait_until(loaded, what=f"the broker loading Trigger {name}")


def functions_trigger(url: str) -> dict[str, object]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": "functions"},
        "spec": {
            "broker": "default",
            "filters": [{"prefix": {"type": "dev.shoal."}}],
            "subscriber": {"uri": url},
        },
    }


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    async with RecordingSink() as sink:
        trigger = yaml.safe_dump(functions_trigger(sink.url))
        (manifests / "functions.yaml").write_text(trigger, encoding="utf-8")
        async with running_broker(
            tmp_path / "broker", [manifests], reload_interval_seconds=0.1
        ) as broker:
            yield Platform(sink, broker, manifests)


@pytest.fixture
async def exec_driver(tmp_path: Path) -> AsyncIterator[ExecDriver]:
    """An exec driver on a folder of its own; its replicas are stopped at the end."""
    made = await ExecDriver.open(tmp_path / "exec", grace_seconds=0.5)
    try:
        yield made
    finally:
        await close_driver(made)
