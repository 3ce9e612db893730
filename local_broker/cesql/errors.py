"""The CESQL error model (CESQL v1, section 3.3).

Evaluation never raises to the caller: it returns a value *and* the errors met on the way.
`CesqlError` is the public description of one such error; only `CesqlParseError` is ever raised
to callers, by `compile_expression`, because an expression that does not parse has no value.

`NodeEvaluationError` is internal plumbing: a node that meets an error raises it so that every
enclosing node stops computing (an operand error leaves an operator without an obvious result,
so it yields the zero value of its return type, section 3.3). `Expression.evaluate` catches it.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

ErrorKind: TypeAlias = Literal[
    "parse",
    "math",
    "cast",
    "missingFunction",
    "functionEvaluation",
    "missingAttribute",
    "generic",
]


class CesqlError(Exception):
    """One error met while compiling or evaluating an expression; `kind` names its CESQL type."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"CesqlError({self.kind!r}, {self.message!r})"


class CesqlParseError(CesqlError):
    """The expression is not valid CESQL; `position` is the 1-based column of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__("parse", f"{message} (column {position})")
        self.reason = message
        self.position = position


class NodeEvaluationError(Exception):
    """Raised by a node that met errors; carries the value that node itself defines.

    `origin` is the syntax node that raised. When it is the expression's root, the result keeps
    `value` (e.g. `ABS(-2147483648)` is 2147483647 with a math error); otherwise an enclosing
    node had an operand error and the result is the zero value of the root's type.
    """

    def __init__(self, errors: tuple[CesqlError, ...], value: bool | int | str, origin: object):
        super().__init__(errors)
        self.errors = errors
        self.value = value
        self.origin = origin
