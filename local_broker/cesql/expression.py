"""Compile a CESQL expression once; evaluate it against many events.

`compile_expression` is the only place that parses. `Expression.evaluate` runs the compiled
closures and never raises: like every CESQL evaluation it returns a value together with the
errors met (CESQL v1, section 1: "the primary output ... the secondary output ... errors").
Used as a filter, an expression passes an event only when the value is `True` and there is no
error (section 1.2); `EvaluationResult.passes` says exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

from local_broker.cesql.checks import unresolved_calls
from local_broker.cesql.compiler import compile_node
from local_broker.cesql.errors import CesqlError, CesqlParseError, NodeEvaluationError
from local_broker.cesql.parser import parse
from local_broker.cesql.types import ZERO_VALUES, Value
from local_broker.event import Attributes


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """The value of an expression for one event, and the errors met computing it."""

    value: Value
    errors: tuple[CesqlError, ...] = ()

    @property
    def error(self) -> CesqlError | None:
        """The first error met, or None when evaluation was clean."""
        return self.errors[0] if self.errors else None

    @property
    def passes(self) -> bool:
        """Whether an event passes this expression used as a filter (section 1.2)."""
        return self.value is True and not self.errors


# Filters evaluate to a clean boolean almost always: share those two results.
_TRUE = EvaluationResult(True)
_FALSE = EvaluationResult(False)


class Expression:
    """A compiled CESQL expression. Immutable; safe to share between threads."""

    __slots__ = ("_evaluate", "_root", "_zero", "source", "unresolved_calls")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._root = parse(source)
            compiled = compile_node(self._root)
        except RecursionError:
            raise CesqlParseError(
                "the expression nests too deeply; split it, or use IN instead of long OR chains",
                1,
            ) from None
        self._evaluate = compiled.evaluate
        self._zero = ZERO_VALUES[compiled.type]
        # Calls that will always report missingFunction (see `checks`).
        self.unresolved_calls: tuple[str, ...] = tuple(unresolved_calls(self._root))

    def evaluate(self, attributes: Attributes) -> EvaluationResult:
        """Evaluate against an event's context attributes (extensions included, no data)."""
        try:
            value = self._evaluate(attributes)
        except NodeEvaluationError as failure:
            # Section 3.3: the node that met the error defines the value; when that node is
            # inside the expression, the expression has no obvious value and yields its zero.
            value = failure.value if failure.origin is self._root else self._zero
            return EvaluationResult(value, failure.errors)
        except RecursionError:
            # The caller's stack was already deep: report it rather than raise from a filter.
            error = CesqlError("generic", "the expression nests too deeply to evaluate here")
            return EvaluationResult(self._zero, (error,))
        if value is True:
            return _TRUE
        if value is False:
            return _FALSE
        return EvaluationResult(value)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def compile_expression(source: str) -> Expression:
    """Parse and compile `source`; raises CesqlParseError (with `.position`) when it is invalid."""
    return Expression(source)
