"""Compile a LIKE pattern into a string predicate, once (CESQL v1, section 3.4.3).

`%` matches any run of characters (possibly empty), `_` exactly one character, and every other
character itself, case-sensitively. A backslash escapes `%` or `_`; before any other character a
backslash is an ordinary character (the spec defines no other escape), so `'ab\\c'` matches the
text `ab\\c`.

The common shapes compile to plain string methods instead of a regular expression: an exact
text, a prefix (`abc%`), a suffix (`%abc`) and a substring (`%abc%`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from operator import methodcaller
from typing import TypeAlias


class _Wildcard(Enum):
    ANY_RUN = "%"
    ANY_ONE = "_"


_Part: TypeAlias = str | _Wildcard


def compile_like(pattern: str) -> Callable[[str], bool]:
    """A predicate telling whether a text matches `pattern`."""
    parts = _split(pattern)
    literals = [part for part in parts if isinstance(part, str)]
    shape = "".join("x" if isinstance(part, str) else part.value for part in parts)
    text = literals[0] if literals else ""
    if "%" not in shape and "_" not in shape:
        return text.__eq__
    if shape == "%":
        return lambda value: True
    # methodcaller runs in C: no Python frame per match on the common filter shapes.
    if shape == "x%":
        return methodcaller("startswith", text)
    if shape == "%x":
        return methodcaller("endswith", text)
    if shape == "%x%":
        return methodcaller("__contains__", text)
    regex = re.compile(
        "".join(
            re.escape(part) if isinstance(part, str) else (".*" if part.value == "%" else ".")
            for part in parts
        ),
        re.DOTALL,
    )
    return lambda value: regex.fullmatch(value) is not None


def _split(pattern: str) -> list[_Part]:
    """Literal runs and wildcards, with escapes resolved and runs of `%` collapsed into one."""
    parts: list[_Part] = []
    literal: list[str] = []
    index = 0
    while index < len(pattern):
        character = pattern[index]
        following = pattern[index + 1 : index + 2]
        if character == "\\" and following in ("%", "_"):
            literal.append(following)
            index += 2
            continue
        index += 1
        if character not in ("%", "_"):
            literal.append(character)
            continue
        if literal:
            parts.append("".join(literal))
            literal.clear()
        wildcard = _Wildcard(character)
        if not (wildcard is _Wildcard.ANY_RUN and parts and parts[-1] is _Wildcard.ANY_RUN):
            parts.append(wildcard)
    if literal:
        parts.append("".join(literal))
    return parts
