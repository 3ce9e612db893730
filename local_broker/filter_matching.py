"""What a Trigger filter compiles to (`filters` compiles it): a `Filter`, one kind per dialect.

`matches(event)` is pure and cheap, since the broker calls it for every event and every Trigger.
Filters compare equal when their specs are equal (the error callback does not count), so
reloading unchanged manifests yields equal Triggers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable

from local_broker.cesql import CesqlError, Expression
from local_broker.event import CloudEvent, canonical_string

CesqlErrorHandler = Callable[[CesqlError], None]


class Filter(ABC):
    """A compiled filter. `matches` is safe to call from any thread."""

    __slots__ = ("_key",)

    def __init__(self, key: Hashable) -> None:
        self._key = key

    @abstractmethod
    def matches(self, event: CloudEvent) -> bool:
        """Whether `event` passes this filter."""

    def required_value(self, name: str) -> str | None:
        """A value attribute `name` must have for any event to match, if the filter implies one.

        The broker wakes a Trigger only for commits holding events it could match.
        """
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._key!r}"


class _MatchAll(Filter):
    __slots__ = ()

    def matches(self, event: CloudEvent) -> bool:
        return True


MATCH_ALL: Filter = _MatchAll(("all",))


class Attributes(Filter):
    """`exact` and `filter.attributes`: equal values, plus attributes that must be non-empty."""

    __slots__ = ("_equal", "_non_empty")

    def __init__(self, equal: tuple[tuple[str, str], ...], non_empty: tuple[str, ...]) -> None:
        super().__init__(("exact", equal, non_empty))
        self._equal = equal
        self._non_empty = non_empty

    def matches(self, event: CloudEvent) -> bool:
        attributes = event.attributes
        for name, expected in self._equal:
            value = attributes.get(name)
            if value.__class__ is not str:
                if value is None:
                    return False
                value = canonical_string(value)
            if value != expected:
                return False
        for name in self._non_empty:
            value = attributes.get(name)
            if value is None or value == "":
                return False
        return True

    def required_value(self, name: str) -> str | None:
        return next((expected for key, expected in self._equal if key == name), None)


class Affix(Filter):
    """`prefix` and `suffix`: every attribute's value starts (or ends) with the given text."""

    __slots__ = ("_pairs", "_test")

    def __init__(self, dialect: str, pairs: tuple[tuple[str, str], ...]) -> None:
        super().__init__((dialect, pairs))
        self._pairs = pairs
        self._test = str.startswith if dialect == "prefix" else str.endswith

    def matches(self, event: CloudEvent) -> bool:
        attributes = event.attributes
        test = self._test
        for name, affix in self._pairs:
            value = attributes.get(name)
            if value is None or not test(canonical_string(value), affix):
                return False
        return True


class AllOf(Filter):
    """`all`: every nested filter matches."""

    __slots__ = ("_filters",)

    def __init__(self, filters: tuple[Filter, ...]) -> None:
        super().__init__(("all", filters))
        self._filters = filters

    def matches(self, event: CloudEvent) -> bool:
        return all(nested.matches(event) for nested in self._filters)

    def required_value(self, name: str) -> str | None:
        values = (nested.required_value(name) for nested in self._filters)
        return next((value for value in values if value is not None), None)


class AnyOf(Filter):
    """`any`: at least one nested filter matches."""

    __slots__ = ("_filters",)

    def __init__(self, filters: tuple[Filter, ...]) -> None:
        super().__init__(("any", filters))
        self._filters = filters

    def matches(self, event: CloudEvent) -> bool:
        return any(nested.matches(event) for nested in self._filters)


class Not(Filter):
    """`not`: the nested filter does not match."""

    __slots__ = ("_filter",)

    def __init__(self, nested: Filter) -> None:
        super().__init__(("not", nested))
        self._filter = nested

    def matches(self, event: CloudEvent) -> bool:
        return not self._filter.matches(event)


class Cesql(Filter):
    """`cesql`: the expression evaluates to TRUE; an evaluation error goes to `on_error` and
    counts as false."""

    __slots__ = ("_expression", "_on_error")

    def __init__(self, expression: Expression, on_error: CesqlErrorHandler | None) -> None:
        super().__init__(("cesql", expression.source))
        self._expression = expression
        self._on_error = on_error

    def matches(self, event: CloudEvent) -> bool:
        result = self._expression.evaluate(event.attributes)
        error = result.error
        if error is not None:
            if self._on_error is not None:
                self._on_error(error)
            return False
        return result.value is True
