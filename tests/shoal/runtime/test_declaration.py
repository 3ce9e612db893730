"""`@function` declarations: what they register, and the mistakes refused at import time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shoal.runtime import (
    Context,
    Emit,
    Event,
    FunctionSpec,
    Subscription,
    Tick,
    exact,
    function,
    spec_of,
)
from shoal.runtime.discovery import discover, load_module_functions
from shoal.runtime.errors import FunctionDefinitionError
from shoal.runtime.logs import FunctionLogger
from shoal.state import open_store

from .conftest import SAMPLES


def nothing(event: Event, ctx: Context) -> list[Emit]:
    return []


def test_the_decorator_returns_a_plain_function_target_with_the_typed_handler_attached(
    tmp_path: Path,
) -> None:
    def greet(event: Event, ctx: Context) -> list[Emit]:
        return [Emit("dev.shoal.test.greeted", subject=event.subject)]

    target = function(subscriptions=[Subscription(attributes={"type": "t"})])(greet)

    spec = spec_of(target)
    assert spec is not None
    assert target.__name__ == "greet"
    assert (spec.name, spec.service, spec.event_source) == ("greet", "greet", "/shoal/greet")
    assert spec.source_file == Path(__file__).resolve()
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    with store.transaction() as tx:
        context = Context("greet", tx, FunctionLogger("greet"), lambda: datetime.now(UTC))
        emitted = spec.handler(Event(id="1", source="/s", type="t", subject="web"), context)
    assert emitted == [Emit("dev.shoal.test.greeted", subject="web")]


def test_discovery_finds_every_function_of_a_folder_sorted_by_service_name() -> None:
    specs = discover(SAMPLES)

    assert [spec.service for spec in specs] == [
        "broken",
        "dead-letters",
        "echo",
        "refuse",
        "ticking",
    ]
    assert {spec.source_file.name for spec in specs} == {"emitting.py", "ticking.py"}


def test_a_function_bound_to_another_name_is_refused_since_functions_framework_needs_it(
    tmp_path: Path,
) -> None:
    module = tmp_path / "renamed.py"
    module.write_text(
        "from shoal.runtime import Subscription, function\n"
        "def handler(event, ctx):\n    return []\n"
        "alias = function(subscriptions=[Subscription()])(handler)\n"
    )

    with pytest.raises(FunctionDefinitionError, match="bound to the name 'alias'"):
        load_module_functions(module)


@pytest.mark.parametrize(
    ("name", "subscriptions", "says"),
    [
        ("Upper", [Subscription()], "not a Kubernetes name"),
        ("x" * 64, [Subscription()], "not a Kubernetes name"),
        ("two", [Subscription(), Subscription()], "give each a `name`"),
        ("twice", [Subscription(name="a"), Subscription(name="a")], "repeat"),
        (
            "both",
            [Subscription(attributes={"type": "t"}, filters=[exact(type="t")])],
            "not both",
        ),
        ("ticks", [Tick("Every_Minute", "* * * * *")], "not a Kubernetes name"),
    ],
)
def test_declaration_mistakes_fail_at_import_time(
    name: str, subscriptions: list[Subscription | Tick], says: str
) -> None:
    with pytest.raises(FunctionDefinitionError, match=says):
        FunctionSpec(name, nothing, tuple(subscriptions), Path(__file__))


def test_python_names_become_kubernetes_names() -> None:
    spec = FunctionSpec(
        "replica_exits",
        nothing,
        (Subscription(name="exits"), Tick("hourly", "0 * * * *")),
        Path(__file__),
    )

    assert spec.service == "replica-exits"
    assert [spec.trigger_name(s) for s in spec.subscriptions] == [
        "replica-exits-exits",
        "replica-exits-hourly",
    ]
