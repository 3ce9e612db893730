"""Trigger filters, compiled once when manifests load into the `Filter`s of `filter_matching`.

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
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from local_broker.cesql import CesqlParseError, compile_expression
from local_broker.filter_matching import (
    MATCH_ALL,
    Affix,
    AllOf,
    AnyOf,
    Attributes,
    Cesql,
    CesqlErrorHandler,
    Filter,
    Not,
)

ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9]*")
DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")


class FilterError(ValueError):
    """A filter spec that cannot be compiled. The message starts with where the problem is
    (`filters[0].any[1].exact`); `position` is the 1-based column of a CESQL syntax error."""

    def __init__(self, reason: str, *, position: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position


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
    return Attributes(equal, non_empty)


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
        return Attributes(_string_map(value, where, empty_allowed=False), ())
    if dialect in ("prefix", "suffix"):
        return Affix(dialect, _string_map(value, where, empty_allowed=False))
    if dialect == "not":
        return Not(_compile(value, where, on_cesql_error))
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
    return nested[0] if len(nested) == 1 else AnyOf(tuple(nested))


def _all_of(filters: list[Filter]) -> Filter:
    filters = [nested for nested in filters if nested is not MATCH_ALL]
    if not filters:
        return MATCH_ALL
    return filters[0] if len(filters) == 1 else AllOf(tuple(filters))


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
    return Cesql(expression, on_error)


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
