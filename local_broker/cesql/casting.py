"""Type casts between Boolean, Integer and String (CESQL v1, section 3.7).

Each cast returns the converted value; when the conversion fails it appends a cast error to
`errors` and returns the zero value of the target type, as section 3.7 requires.

Implicit and explicit casts differ in one place. The cast table of section 3.7 allows
Integer -> Boolean, and the explicit `BOOL(x)` function follows it (`BOOL(100)` is true). The
conformance suite, however, requires `NOT 10` to yield a cast error (tck not_operator.yaml,
"Invalid int cast"), so operators never convert an integer to a boolean implicitly.
"""

from __future__ import annotations

import re

from local_broker.cesql.errors import CesqlError
from local_broker.cesql.types import INT32_MAX, INT32_MIN, Value, ValueType

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def to_string(value: Value) -> str:
    """Integer -> String in base 10, Boolean -> "true"/"false"; never fails (section 3.7)."""
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)


def to_integer(value: Value, errors: list[CesqlError]) -> int:
    """String -> Integer (optional sign, base 10, 32-bit) and Boolean -> 1/0 (section 3.7)."""
    if type(value) is int:
        return value
    if type(value) is bool:
        return 1 if value else 0
    text = str(value)
    if _INTEGER_TEXT.fullmatch(text):
        number = int(text)
        if INT32_MIN <= number <= INT32_MAX:
            return number
        errors.append(CesqlError("cast", f"cannot cast {text!r} to Integer: out of 32-bit range"))
        return 0
    errors.append(CesqlError("cast", f"cannot cast {text!r} to Integer: not a base-10 integer"))
    return 0


def to_boolean(value: Value, errors: list[CesqlError]) -> bool:
    """String -> Boolean ("true"/"false" in any case), as operators cast implicitly."""
    if type(value) is bool:
        return value
    if type(value) is str:
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        errors.append(CesqlError("cast", f"cannot cast {value!r} to Boolean: not true or false"))
        return False
    errors.append(CesqlError("cast", f"cannot cast Integer {value} to Boolean implicitly"))
    return False


def to_boolean_explicitly(value: Value, errors: list[CesqlError]) -> bool:
    """`BOOL(x)`: as `to_boolean`, plus Integer -> Boolean (0 is false, anything else true)."""
    if type(value) is int:
        return value != 0
    return to_boolean(value, errors)


def cast_to(target: ValueType, value: Value, errors: list[CesqlError]) -> Value:
    """Cast `value` to `target` (None: leave it as it is)."""
    if target is None or type(value) is target:
        return value
    if target is str:
        return to_string(value)
    if target is int:
        return to_integer(value, errors)
    return to_boolean(value, errors)
