"""The vocabulary of the CESQL engine (CESQL v1, section 3.1 "Type system").

CESQL has three primitive types, mapped to Python's `bool`, `int` (32-bit signed range) and `str`.
A compiled expression is a tree of `Evaluator` closures over an event's attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from local_broker.event import Attributes

Value: TypeAlias = bool | int | str
# The static type of a sub-expression: one of the three primitive types, or None when it is only
# known at evaluation time (an attribute reference).
ValueType: TypeAlias = type[bool] | type[int] | type[str] | None
Evaluator: TypeAlias = Callable[[Attributes], Value]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

ZERO_VALUES: dict[ValueType, Value] = {bool: False, int: 0, str: "", None: False}
"""Section 3.1: the zero value per type; section 3.2: Boolean when the type is not known."""
