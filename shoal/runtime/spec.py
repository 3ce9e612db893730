"""A registered function: its handler and subscriptions, checked when the module is imported.

Names: the Python name is the functions-framework target (`FUNCTION_TARGET`); the Knative
Service is that name with `_` turned into `-` (Kubernetes names are DNS labels); a Trigger is
named after the Service, plus `-<subscription name>` when the function has several.

An `HttpFunctionSpec` is the other kind: a function that answers plain HTTP requests with what
it reads from state (`@http_function`), a Knative Service with no Trigger.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import flask

from shoal.runtime.context import Context
from shoal.runtime.errors import FunctionDefinitionError
from shoal.runtime.event import Emit, Event
from shoal.runtime.subscriptions import Subscribes, Tick
from shoal.state import Resource

Handler = Callable[[Event, Context], Sequence[Emit]]

# DNS-1123 label: what Kubernetes accepts as a Service or Trigger name.
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_MAX_NAME = 63


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    handler: Handler
    subscriptions: tuple[Subscribes, ...]
    source_file: Path

    def __post_init__(self) -> None:
        _check_name(self.service, f"function {self.name!r}: its Service name")
        names = [self.trigger_name(s) for s in self.subscriptions]
        if len(set(names)) != len(names):
            raise FunctionDefinitionError(
                f"function {self.name!r}: Trigger names {names} repeat; give each subscription "
                "of a function with several a distinct `name`"
            )
        for subscription in self.subscriptions:
            where = f"function {self.name!r}, subscription {subscription.name!r}"
            _check_name(self.trigger_name(subscription), f"{where}: its Trigger name")
            if isinstance(subscription, Tick):
                _check_name(subscription.name, f"{where}: the PingSource name")
            elif subscription.attributes and subscription.filters:
                raise FunctionDefinitionError(
                    f"{where}: use `attributes` or `filters`, not both (Knative would ignore "
                    "`attributes`)"
                )

    @property
    def service(self) -> str:
        """The Knative Service name."""
        return self.name.replace("_", "-")

    @property
    def event_source(self) -> str:
        """The `source` attribute of the events this function emits."""
        return f"/shoal/{self.service}"

    def trigger_name(self, subscription: Subscribes) -> str:
        if subscription.name is None and len(self.subscriptions) == 1:
            return self.service
        if subscription.name is None:
            raise FunctionDefinitionError(
                f"function {self.name!r} has {len(self.subscriptions)} subscriptions: give "
                "each a `name` (it names the Trigger)"
            )
        return f"{self.service}-{subscription.name}"


class StateReader(Protocol):
    """The reading half of a state `Transaction`: what an HTTP function may do with state."""

    def get(self, kind: str, name: str) -> Resource | None: ...

    def list(
        self, kind: str, *, label_selector: Mapping[str, str] | None = None
    ) -> list[Resource]: ...


HttpHandler = Callable[[flask.Request, StateReader], flask.Response]


@dataclass(frozen=True, slots=True)
class HttpFunctionSpec:
    """A function served over plain HTTP: no CloudEvents, so no subscriptions and no outbox."""

    name: str
    handler: HttpHandler
    source_file: Path

    def __post_init__(self) -> None:
        _check_name(self.service, f"function {self.name!r}: its Service name")

    @property
    def service(self) -> str:
        """The Knative Service name."""
        return self.name.replace("_", "-")


ServiceSpec = FunctionSpec | HttpFunctionSpec
"""Anything registered that becomes a Knative Service."""


def _check_name(name: str, what: str) -> None:
    if len(name) > _MAX_NAME or not _DNS_LABEL.fullmatch(name):
        raise FunctionDefinitionError(
            f"{what} {name!r} is not a Kubernetes name: lower-case letters, digits and '-' "
            f"(Python '_' becomes '-'), starting with a letter, at most {_MAX_NAME} characters"
        )
