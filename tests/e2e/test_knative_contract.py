"""What deploys to Knative is what runs locally.

For every Knative Service in manifests/, its container command runs as a local process with the
environment the manifest sets, plus what Knative adds (PORT, and K_SINK from the SinkBinding);
the local broker loads the same manifests and delivers to it through its Triggers. The sample
functions (tests/shoal/runtime/samples) are rendered and run the same way, to see emitting
through K_SINK, replies, dead-lettering and ticks go through a real broker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from local_broker.event import CloudEvent
from local_broker.filters import compile_filter
from local_broker.server import BrokerServer
from local_broker.testing import RecordingSink, post_event, running_broker
from shoal.manifests import files
from shoal.manifests.render import render
from shoal.manifests.resources import Target
from shoal.platform import plan
from shoal.platform.ports import free_port
from shoal.runtime import HttpFunctionSpec
from shoal.runtime.discovery import discover
from shoal.state import StateStore, open_store

from .conftest import wait_http_ok

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests" / "base"
SAMPLES = ROOT / "tests" / "shoal" / "runtime" / "samples"

pytestmark = pytest.mark.slow


def triggers_of(folder: Path, service: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            is_trigger = document and document.get("kind") == "Trigger"
            if is_trigger and document["spec"]["subscriber"].get("ref", {}).get("name") == service:
                found.append(document)
    return found


def matching_attributes(spec: Mapping[str, Any]) -> dict[str, str]:
    """Attributes of an event this Trigger accepts (the dialects with an obvious example)."""
    if spec.get("filters"):
        attributes: dict[str, str] = {}
        for expression in spec["filters"]:
            attributes.update(_example(expression))
        probe = CloudEvent({"specversion": "1.0", "id": "1", "source": "/contract", **attributes})
        if not compile_filter(None, spec["filters"]).matches(probe):
            pytest.fail(f"the example {attributes} does not pass {spec['filters']}")
        return attributes
    return {k: v or "present" for k, v in spec.get("filter", {}).get("attributes", {}).items()}


def _example(expression: Mapping[str, Any]) -> dict[str, str]:
    ((dialect, value),) = expression.items()
    if dialect == "exact":
        return dict(value)
    if dialect == "prefix":
        return {name: f"{start}contract" for name, start in value.items()}
    if dialect == "suffix":
        return {name: f"/contract{end}" for name, end in value.items()}
    if dialect == "all":
        return {k: v for nested in value for k, v in _example(nested).items()}
    if dialect == "any":
        return _example(value[0])
    if dialect == "not":
        # The positive siblings' example rarely trips a negation; `matching_attributes`
        # checks the whole example against the broker's own filter.
        return {}
    pytest.fail(f"no example event for a {dialect!r} filter: extend matching_attributes")


def start(
    services: list[plan.ServiceProcess],
    ports: Mapping[str, int],
    sink: str,
    log: Path,
    without_sink: frozenset[str],
) -> list[subprocess.Popen[bytes]]:
    """Each Service's container command, as Knative would run it, in its own process group."""
    processes: list[subprocess.Popen[bytes]] = []
    with log.open("ab") as output:
        for service in services:
            env = service.environment(ports[service.name], sink)
            if service.name in without_sink:
                del env["K_SINK"]
            processes.append(
                subprocess.Popen(
                    service.command,
                    env=env,
                    cwd=ROOT,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    return processes


@asynccontextmanager
async def run_services(
    services: list[plan.ServiceProcess],
    ports: Mapping[str, int],
    sink: str,
    log: Path,
    *,
    without_sink: frozenset[str] = frozenset(),
) -> AsyncIterator[None]:
    processes = await asyncio.to_thread(start, services, ports, sink, log, without_sink)
    try:
        for service, process in zip(services, processes, strict=True):
            url = f"http://127.0.0.1:{ports[service.name]}/"
            await asyncio.to_thread(wait_http_ok, url, 60, process)
        yield
    finally:
        await asyncio.to_thread(stop, processes)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@asynccontextmanager
async def deployed(
    folder: Path, tmp_path: Path, *, without_sink: frozenset[str] = frozenset()
) -> AsyncIterator[tuple[BrokerServer, StateStore, list[plan.ServiceProcess]]]:
    """The broker with `folder`'s manifests, and every Service of it running."""
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    services = plan.services(folder, {("shoal-state", "url"): state_url})
    ports = {service.name: free_port() for service in services}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    store = open_store(state_url)
    async with running_broker(tmp_path / "broker", [folder], urls) as broker:
        sink = broker.ingress_url(*plan.sink_broker(folder))
        log = tmp_path / "functions.log"
        async with run_services(services, ports, sink, log, without_sink=without_sink):
            yield broker, store, services
    store.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"within {timeout} s: {what}")


def off_the_loop(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """A blocking check (a state store read) run in a thread, so the broker keeps going."""
    return lambda: asyncio.to_thread(check)


def cloud_event(attributes: Mapping[str, str], data: object = None) -> CloudEvent:
    base = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/contract", **attributes}
    if data is None:
        return CloudEvent(base)
    return CloudEvent({**base, "datacontenttype": "application/json"}, json.dumps(data).encode())


def in_inbox(store: StateStore, function: str, event: CloudEvent) -> bool:
    with store.transaction() as tx:
        return tx.inbox_get(function, event.source, event.id) is not None


async def answered(
    broker: BrokerServer, store: StateStore, function: str, event: CloudEvent
) -> bool:
    """`function` handled `event` (its inbox has it), or refused it on purpose: the broker
    dead-lettered it after a 422, so the handler ran and raised PermanentError (an example
    event satisfies the Trigger, not necessarily the handler)."""
    if await asyncio.to_thread(in_inbox, store, function, event):
        return True
    url = f"{broker.url}/-/dead-letters?broker=default/default"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        letters = (await response.json())["dead_letters"]
    return any(d["event"]["id"] == event.id and d["status"] == 422 for d in letters)


async def test_every_service_in_the_manifests_handles_what_its_triggers_deliver(
    tmp_path: Path,
) -> None:
    # HTTP functions take no events; `deployed` already saw them answer GET / with 200.
    specs = discover(ROOT / "functions")
    http_only = {spec.service for spec in specs if isinstance(spec, HttpFunctionSpec)}
    async with deployed(MANIFESTS, tmp_path) as (broker, store, services):
        assert services, "manifests/base has no Service"
        for service in services:
            triggers = triggers_of(MANIFESTS, service.name)
            if service.name in http_only:
                assert triggers == [], f"HTTP function {service.name} has a Trigger"
                continue
            assert triggers, f"Service {service.name} has no Trigger"
            for trigger in triggers:
                event = cloud_event(matching_attributes(trigger["spec"]))
                status, _ = await post_event(broker.ingress_url(), event)
                assert status == 202
                await eventually(
                    partial(answered, broker, store, service.env["FUNCTION_TARGET"], event),
                    f"{service.name} handles what {trigger['metadata']['name']} delivers",
                )


@pytest.fixture
def sample_manifests(tmp_path: Path) -> Callable[[str], Path]:
    """The samples rendered into a folder, plus a Trigger sending echoed events to `sink_url`."""

    def write(sink_url: str) -> Path:
        folder = tmp_path / "manifests"
        files.write(render(discover(SAMPLES), ROOT, Target(image="unused")), folder)
        recorder = {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {"name": "recorder"},
            "spec": {
                "broker": "default",
                "filter": {"attributes": {"type": "dev.shoal.test.echoed"}},
                "subscriber": {"uri": sink_url},
            },
        }
        (folder / "recorder.yaml").write_text(yaml.safe_dump(recorder))
        return folder

    return write


@pytest.mark.parametrize("through", ["k_sink", "reply"])
async def test_emitted_events_reach_the_broker_through_k_sink_or_as_the_reply(
    tmp_path: Path, sample_manifests: Callable[[str], Path], through: str
) -> None:
    emit = 2 if through == "k_sink" else 1
    without_sink = frozenset({"echo"}) if through == "reply" else frozenset()
    async with (
        RecordingSink() as recorder,
        deployed(sample_manifests(recorder.url), tmp_path, without_sink=without_sink) as (
            broker,
            _store,
            _services,
        ),
    ):
        event = cloud_event({"type": "dev.shoal.test.echo", "subject": "web-1"}, {"emit": emit})
        await post_event(broker.ingress_url(), event)

        received = await recorder.wait_for(emit, timeout=30)

    echoed = sorted((r.event for r in received), key=lambda e: json.loads(e.data or b"")["index"])
    assert [e.source for e in echoed] == ["/shoal/echo"] * emit
    assert [json.loads(e.data or b"") for e in echoed] == [
        {"index": index, "input": event.id} for index in range(emit)
    ]
    assert {e.get("subject") for e in echoed} == {"web-1"}


async def test_a_permanent_error_is_dead_lettered_to_the_dead_letter_function(
    tmp_path: Path, sample_manifests: Callable[[str], Path]
) -> None:
    async with (
        RecordingSink() as recorder,
        deployed(sample_manifests(recorder.url), tmp_path) as (broker, store, _services),
    ):
        event = cloud_event({"type": "dev.shoal.test.refused"})
        await post_event(broker.ingress_url(), event)

        def dead_letter() -> dict[str, Any] | None:
            with store.transaction() as tx:
                found = tx.get("DeadLetter", event.id)
            return None if found is None else dict(found.body)

        await eventually(
            off_the_loop(lambda: dead_letter() is not None), "the refused event is dead-lettered"
        )

    letter = dead_letter()
    assert letter is not None
    assert letter["knativeerrorcode"] == "422"
    error = json.loads(base64.b64decode(letter["knativeerrordata"]))
    assert error == {
        "error": f"permanent failure: {event.id} can never be handled",
        "function": "refuse",
    }
    with store.transaction() as tx:
        assert tx.get("Counter", "refuse") is None  # the refused handler's writes rolled back


async def test_a_tick_reaches_its_function_through_the_ping_source_and_trigger(
    tmp_path: Path, sample_manifests: Callable[[str], Path]
) -> None:
    async with (
        RecordingSink() as recorder,
        deployed(sample_manifests(recorder.url), tmp_path) as (_broker, store, _services),
    ):

        def ticked() -> bool:
            with store.transaction() as tx:
                return any(r.body["type"] == "dev.knative.sources.ping" for r in tx.list("Ticks"))

        await eventually(off_the_loop(ticked), "a ping from the every-second PingSource is handled")
