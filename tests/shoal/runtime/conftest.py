"""Fixtures for runtime tests: the sample functions, a store per backend, recording publishers,
and requests encoded by the cloudevents SDK in binary or structured mode."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from psycopg import sql

from shoal.runtime import FunctionSpec
from shoal.runtime.discovery import discover
from shoal.runtime.errors import PublishError
from shoal.runtime.invoke import Invoker
from shoal.runtime.logs import ROOT_LOGGER, JsonLineFormatter
from shoal.state import StateStore, open_store

SAMPLES = Path(__file__).parent / "samples"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
FIXED_NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

Request = tuple[dict[str, str], bytes]
Encode = Callable[..., Request]


@pytest.fixture(scope="session")
def samples() -> dict[str, FunctionSpec]:
    return {spec.name: spec for spec in discover(SAMPLES) if isinstance(spec, FunctionSpec)}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty state store of each backend (PostgreSQL: a schema of its own)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    schema = f"shoal_runtime_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def store(state_url: str) -> Iterator[StateStore]:
    opened = open_store(state_url)
    yield opened
    opened.close()


class RecordingPublisher:
    """Keeps what it publishes; `failing` makes every publish raise, as an unreachable sink."""

    def __init__(self) -> None:
        self.published: list[Mapping[str, object]] = []
        self.failing = False

    def publish(self, events: Sequence[Mapping[str, object]]) -> None:
        if self.failing:
            raise PublishError("K_SINK http://127.0.0.1:9/ refused the connection")
        self.published.extend(events)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def make_invoker(
    samples: dict[str, FunctionSpec], store: StateStore, publisher: RecordingPublisher
) -> Callable[..., Invoker]:
    def make(name: str, *, with_sink: bool = True) -> Invoker:
        return Invoker(
            samples[name], store, publisher if with_sink else None, clock=lambda: FIXED_NOW
        )

    return make


def counter(store: StateStore, function: str) -> int:
    with store.transaction() as tx:
        resource = tx.get("Counter", function)
    return 0 if resource is None else int(str(resource.body["n"]))


def encode(mode: str, type_: str, data: Any = None, **attributes: str) -> Request:
    """A request for one event, encoded by the cloudevents SDK (not by the code under test)."""
    if data is not None:
        attributes.setdefault("datacontenttype", "application/json")
    event = CloudEvent({"type": type_, "source": "/tests", "id": "event-1", **attributes}, data)
    headers, body = to_binary(event) if mode == "binary" else to_structured(event)
    return dict(headers), body


@pytest.fixture(params=["binary", "structured"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the functions log, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger(ROOT_LOGGER)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)
