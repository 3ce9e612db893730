"""The built-in functions (CESQL v1, section 3.5) and dispatch by name and arity.

Each implementation receives its arguments already cast to the declared parameter types
(section 3.7, "n-ary functions: cast all the arguments") and appends any error it meets to
`errors` while still returning a value of its return type (section 3.5.3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from local_broker.cesql import casting, int32
from local_broker.cesql.errors import CesqlError
from local_broker.cesql.types import Value, ValueType

Implementation = Callable[[Sequence[Value], list[CesqlError]], Value]

# Section 3.5.1: TRIM removes Unicode White_Space, which is narrower than str.isspace()
# (that also strips the information separators U+001C..U+001F, which are control characters).
UNICODE_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class Signature:
    """One overload. When `variadic`, the last parameter repeats any number of times (even 0)."""

    parameters: tuple[ValueType, ...]
    returns: type[bool] | type[int] | type[str]
    implementation: Implementation
    variadic: bool = False

    def accepts(self, arity: int) -> bool:
        fixed = len(self.parameters)
        return arity >= fixed - 1 if self.variadic else arity == fixed

    def parameter_type(self, index: int) -> ValueType:
        return self.parameters[min(index, len(self.parameters) - 1)]


def resolve(name: str, arity: int) -> Signature | None:
    """The overload of `name` taking `arity` arguments; None when it cannot be dispatched."""
    return next((sig for sig in BUILTINS.get(name, ()) if sig.accepts(arity)), None)


def _function_error(message: str, errors: list[CesqlError]) -> None:
    errors.append(CesqlError("functionEvaluation", message))


def _left(args: Sequence[Value], errors: list[CesqlError]) -> str:
    text, count = str(args[0]), int(args[1])
    if count < 0:
        _function_error(f"LEFT length must not be negative, got {count}", errors)
        return text
    return text[:count]


def _right(args: Sequence[Value], errors: list[CesqlError]) -> str:
    text, count = str(args[0]), int(args[1])
    if count < 0:
        _function_error(f"RIGHT length must not be negative, got {count}", errors)
        return text
    return text[len(text) - count :] if count < len(text) else text


def _substring(args: Sequence[Value], errors: list[CesqlError]) -> str:
    text, position = str(args[0]), int(args[1])
    length = int(args[2]) if len(args) == 3 else None
    if not -len(text) <= position <= len(text):
        _function_error(
            f"SUBSTRING position {position} is outside a text of length {len(text)}", errors
        )
        return ""
    if length is not None and length < 0:
        _function_error(f"SUBSTRING length must not be negative, got {length}", errors)
        return ""
    if position == 0:
        return ""
    start = position - 1 if position > 0 else len(text) + position
    return text[start:] if length is None else text[start : start + length]


def _concat_ws(args: Sequence[Value], errors: list[CesqlError]) -> str:
    return str(args[0]).join(str(arg) for arg in args[1:])


def _cast_check(cast: Callable[[Value, list[CesqlError]], Value]) -> Implementation:
    def implementation(args: Sequence[Value], errors: list[CesqlError]) -> bool:
        failures: list[CesqlError] = []
        cast(args[0], failures)
        return not failures

    return implementation


BUILTINS: dict[str, tuple[Signature, ...]] = {
    # Section 3.5.1: string manipulation.
    "LENGTH": (Signature((str,), int, lambda args, errors: len(str(args[0]))),),
    "CONCAT": (Signature((str,), str, lambda args, errors: "".join(map(str, args)), True),),
    "CONCAT_WS": (Signature((str, str), str, _concat_ws, True),),
    "LOWER": (Signature((str,), str, lambda args, errors: str(args[0]).lower()),),
    "UPPER": (Signature((str,), str, lambda args, errors: str(args[0]).upper()),),
    "TRIM": (Signature((str,), str, lambda args, errors: str(args[0]).strip(UNICODE_WHITESPACE)),),
    "LEFT": (Signature((str, int), str, _left),),
    "RIGHT": (Signature((str, int), str, _right),),
    "SUBSTRING": (
        Signature((str, int), str, _substring),
        Signature((str, int, int), str, _substring),
    ),
    # Section 3.5.2: math.
    "ABS": (Signature((int,), int, lambda args, errors: int32.absolute(int(args[0]), errors)),),
    # Section 3.7: explicit casts, and whether an explicit cast would succeed.
    "INT": (Signature((None,), int, lambda args, errors: casting.to_integer(args[0], errors)),),
    "BOOL": (
        Signature(
            (None,), bool, lambda args, errors: casting.to_boolean_explicitly(args[0], errors)
        ),
    ),
    "STRING": (Signature((None,), str, lambda args, errors: casting.to_string(args[0])),),
    "IS_INT": (Signature((None,), bool, _cast_check(casting.to_integer)),),
    "IS_BOOL": (Signature((None,), bool, _cast_check(casting.to_boolean_explicitly)),),
}
