"""Trigger filters, compiled once when manifests load; `Filter.matches(event)` is pure and cheap.

Two ways to write a filter (Knative's "new-trigger-filters" feature):

`spec.filter.attributes` (Knative control-plane spec, "TriggerFilter"): every key must name an
attribute the event has, and its canonical string value must equal the filter value exactly
(case-sensitive); an empty filter value asks only that the attribute be present and non-empty.
CloudEvents forbids empty values for the optional context attributes, so a present empty
extension is the only event this "non-empty" part can turn away.

`spec.filters` (CloudEvents Subscriptions API, section 3.2.4, "Filters"): a list of filter
expressions that must all be true; when it is non-empty it replaces `spec.filter` (an empty list
leaves `spec.filter` in charge). Each expression has exactly one dialect:
  exact / prefix / suffix  a non-empty map of attribute name to non-empty string; every entry must
                           match, and an event without the attribute fails;
  all / any                a list of expressions; an empty `all` is true (nothing to fail), an
                           empty `any` is refused: the Subscriptions API requires at least one
                           expression there and an empty `any` could never be true;
  not                      one expression, negated;
  cesql                    a CloudEvents SQL expression; true only when it evaluates to TRUE
                           without error (Subscriptions API, "sql" dialect). An evaluation error
                           is reported to `on_cesql_error` and counts as false, so
                           `not: {cesql: ...}` is true for an event the expression fails on.
Attribute names must match `^[a-z][a-z0-9]*$`, as Knative's webhook requires. Knative's webhook
also limits each exact/prefix/suffix map to one attribute; several are accepted here, as the
Subscriptions API allows, but such a Trigger will not apply on Knative: write one per map there.

Filters compare equal when their specs are equal (the error callback does not count), so
reloading unchanged manifests yields equal Triggers.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence

from local_broker.cesql import CesqlError, CesqlParseError, Expression, compile_expression
from local_broker.event import CloudEvent, canonical_string

CesqlErrorHandler = Callable[[CesqlError], None]

ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9]*")
DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")


class FilterError(ValueError):
    """A filter spec that cannot be compiled. The message starts with where the problem is
    (`filters[0].any[1].exact`); `position` is the 1-based column of a CESQL syntax error."""

    def __init__(self, reason: str, *, position: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position


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


class _Attributes(Filter):
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


class _Affix(Filter):
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


class _All(Filter):
    __slots__ = ("_filters",)

    def __init__(self, filters: tuple[Filter, ...]) -> None:
        super().__init__(("all", filters))
        self._filters = filters

    def matches(self, event: CloudEvent) -> bool:
        return all(nested.matches(event) for nested in self._filters)

    def required_value(self, name: str) -> str | None:
        values = (nested.required_value(name) for nested in self._filters)
        return next((value for value in values if value is not None), None)


class _Any(Filter):
    __slots__ = ("_filters",)

    def __init__(self, filters: tuple[Filter, ...]) -> None:
        super().__init__(("any", filters))
        self._filters = filters

    def matches(self, event: CloudEvent) -> bool:
        return any(nested.matches(event) for nested in self._filters)


class _Not(Filter):
    __slots__ = ("_filter",)

    def __init__(self, nested: Filter) -> None:
        super().__init__(("not", nested))
        self._filter = nested

    def matches(self, event: CloudEvent) -> bool:
        return not self._filter.matches(event)


class _Cesql(Filter):
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


def compile_filter(
    attributes: Mapping[str, object] | None,
    filters: Sequence[object] | None,
    *,
    on_cesql_error: CesqlErrorHandler | None = None,
) -> Filter:
    """Compile a Trigger's `spec.filter.attributes` and `spec.filters`; raises FilterError.

    Both are checked, even when a non-empty `filters` makes `attributes` irrelevant.
    """
    by_attributes = _compile_attributes(attributes)
    if filters is None:
        return by_attributes
    if isinstance(filters, str) or not isinstance(filters, Sequence):
        raise FilterError("filters: must be a list of filter expressions")
    if not filters:
        return by_attributes
    return _all_of(
        [_compile(spec, f"filters[{index}]", on_cesql_error) for index, spec in enumerate(filters)]
    )


def _compile_attributes(attributes: Mapping[str, object] | None) -> Filter:
    if attributes is None:
        return MATCH_ALL
    pairs = _string_map(attributes, "filter.attributes", empty_allowed=True)
    if not pairs:
        return MATCH_ALL
    equal = tuple((name, value) for name, value in pairs if value)
    non_empty = tuple(name for name, value in pairs if not value)
    return _Attributes(equal, non_empty)


def _compile(spec: object, path: str, on_cesql_error: CesqlErrorHandler | None) -> Filter:
    if not isinstance(spec, Mapping):
        raise FilterError(f"{path}: must be a mapping with one dialect ({', '.join(DIALECTS)})")
    dialects = [str(key) for key in spec]
    for dialect in dialects:
        if dialect not in DIALECTS:
            hint = "; CESQL is written `cesql` in Knative" if dialect == "sql" else ""
            raise FilterError(
                f"{path}: unknown dialect {dialect!r} (known: {', '.join(DIALECTS)}){hint}"
            )
    if len(dialects) != 1:
        found = ", ".join(dialects) if dialects else "none"
        raise FilterError(
            f"{path}: a filter expression has exactly one dialect, found {len(dialects)} "
            f"({found}); to require several, list them under `all`"
        )
    dialect = dialects[0]
    value = spec[dialect]
    where = f"{path}.{dialect}"
    if dialect == "exact":
        return _Attributes(_string_map(value, where, empty_allowed=False), ())
    if dialect in ("prefix", "suffix"):
        return _Affix(dialect, _string_map(value, where, empty_allowed=False))
    if dialect == "not":
        return _Not(_compile(value, where, on_cesql_error))
    if dialect == "cesql":
        return _compile_cesql(value, where, on_cesql_error)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise FilterError(f"{where}: must be a list of filter expressions")
    nested = [
        _compile(item, f"{where}[{index}]", on_cesql_error) for index, item in enumerate(value)
    ]
    if dialect == "all":
        return _all_of(nested)
    if not nested:
        raise FilterError(
            f"{where}: needs at least one filter expression (an empty `any` is never true)"
        )
    return nested[0] if len(nested) == 1 else _Any(tuple(nested))


def _all_of(filters: list[Filter]) -> Filter:
    filters = [nested for nested in filters if nested is not MATCH_ALL]
    if not filters:
        return MATCH_ALL
    return filters[0] if len(filters) == 1 else _All(tuple(filters))


def _compile_cesql(value: object, where: str, on_error: CesqlErrorHandler | None) -> Filter:
    if not isinstance(value, str) or not value.strip():
        raise FilterError(f"{where}: must be a CESQL expression (a non-empty string)")
    try:
        expression = compile_expression(value)
    except CesqlParseError as error:
        raise FilterError(
            f"{where}: invalid CESQL at column {error.position}: {error.reason}",
            position=error.position,
        ) from error
    if expression.unresolved_calls:
        # The expression would never match: refuse it now rather than at delivery time.
        raise FilterError(f"{where}: invalid CESQL: {'; '.join(expression.unresolved_calls)}")
    return _Cesql(expression, on_error)


def _string_map(value: object, where: str, *, empty_allowed: bool) -> tuple[tuple[str, str], ...]:
    """Validated (name, value) pairs, sorted by name so equal maps compile to equal filters.

    With `empty_allowed` (`filter.attributes`) the map and its values may be empty; the
    Subscriptions API dialects allow neither.
    """
    if not isinstance(value, Mapping):
        raise FilterError(f"{where}: must be a map of attribute name to string value")
    if not value and not empty_allowed:
        raise FilterError(f"{where}: must name at least one attribute")
    pairs: list[tuple[str, str]] = []
    for name, expected in value.items():
        if not isinstance(name, str) or not ATTRIBUTE_NAME.fullmatch(name):
            raise FilterError(
                f"{where}: attribute name {name!r} is invalid; CloudEvents attribute names are "
                "lower-case letters and digits, starting with a letter"
            )
        if not isinstance(expected, str):
            raise FilterError(
                f"{where}.{name}: the value must be a string, not {expected!r}; quote it in YAML"
            )
        if not expected and not empty_allowed:
            raise FilterError(f"{where}.{name}: the value must not be empty")
        pairs.append((name, expected))
    return tuple(sorted(pairs))
