"""32-bit signed integer arithmetic (CESQL v1, sections 3.1, 3.4.2 and 3.5.2).

Division and remainder truncate towards zero and the remainder takes the dividend's sign
(section 3.4.2); dividing by zero yields 0 and a math error.

The spec defines one overflow explicitly: `ABS(-2147483648)` returns 2147483647 and a math
error (section 3.5.2), i.e. the nearest representable value. Every other overflow (`+ - *`,
unary minus, `-2147483648 / -1`) follows the same rule, so `-x` and `ABS(x)` agree for every
negative `x`.
"""

from __future__ import annotations

from collections.abc import Callable

from local_broker.cesql.errors import CesqlError
from local_broker.cesql.types import INT32_MAX, INT32_MIN

IntegerOperation = Callable[[int, int, list[CesqlError]], int]


def checked(value: int, expression: Callable[[], str], errors: list[CesqlError]) -> int:
    """`value` when it fits in 32 bits; otherwise the nearest bound and a math error."""
    if INT32_MIN <= value <= INT32_MAX:
        return value
    errors.append(CesqlError("math", f"integer overflow: {expression()} is outside 32 bits"))
    return INT32_MAX if value > INT32_MAX else INT32_MIN


def add(x: int, y: int, errors: list[CesqlError]) -> int:
    return checked(x + y, lambda: f"{x} + {y}", errors)


def subtract(x: int, y: int, errors: list[CesqlError]) -> int:
    return checked(x - y, lambda: f"{x} - {y}", errors)


def multiply(x: int, y: int, errors: list[CesqlError]) -> int:
    return checked(x * y, lambda: f"{x} * {y}", errors)


def divide(x: int, y: int, errors: list[CesqlError]) -> int:
    if y == 0:
        errors.append(CesqlError("math", f"division by zero: {x} / 0"))
        return 0
    quotient = abs(x) // abs(y)
    return checked(quotient if (x < 0) == (y < 0) else -quotient, lambda: f"{x} / {y}", errors)


def remainder(x: int, y: int, errors: list[CesqlError]) -> int:
    if y == 0:
        errors.append(CesqlError("math", f"division by zero: {x} % 0"))
        return 0
    magnitude = abs(x) % abs(y)
    return magnitude if x >= 0 else -magnitude


def negate(x: int, errors: list[CesqlError]) -> int:
    return checked(-x, lambda: f"-({x})", errors)


def absolute(x: int, errors: list[CesqlError]) -> int:
    return checked(abs(x), lambda: f"ABS({x})", errors)


OPERATIONS: dict[str, IntegerOperation] = {
    "+": add,
    "-": subtract,
    "*": multiply,
    "/": divide,
    "%": remainder,
}
