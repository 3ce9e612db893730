"""LIKE patterns: wildcards, escapes and the fast paths (CESQL v1 section 3.4.3)."""

from __future__ import annotations

import pytest

from local_broker.cesql.like import compile_like

# Patterns are written as the value of the CESQL string literal, i.e. after `\'` decoding.
CASES = [
    ("abc", "abc", True),
    ("abc", "abcd", False),
    ("abc", "ABC", False),
    ("", "", True),
    ("", "a", False),
    ("%", "", True),
    ("%", "anything\nat all", True),
    ("%%", "x", True),
    ("dev.shoal.%", "dev.shoal.replica.scheduled", True),
    ("dev.shoal.%", "dev.shoal.", True),
    ("dev.shoal.%", "dev.shoalx", False),
    ("%.error", "com.github.error", True),
    ("%.error", "com.github.errors", False),
    ("%mid%", "a mid b", True),
    ("%mid%", "mi d", False),
    ("a%b%c", "azzbzzc", True),
    ("a%b%c", "ac", False),
    ("_", "x", True),
    ("_", "", False),
    ("_", "\n", True),
    ("a_c", "abc", True),
    ("a_c", "abbc", False),
    ("_b%", "abcd1", True),
    ("_b%", "b", False),
    ("%_", "", False),
    # A backslash escapes % and _ ...
    ("abc\\%", "abc%", True),
    ("abc\\%", "abcd", False),
    ("a\\_c", "a_c", True),
    ("a\\_c", "abc", False),
    ("100\\%%", "100% sure", True),
    # ... and before anything else it is an ordinary character.
    ("ab\\c", "ab\\c", True),
    ("ab\\c", "abc", False),
    ("a\\\\%", "a\\%", True),
    ("a\\\\%", "a\\\\x", False),
    ("a\\", "a\\", True),
    # Regular-expression metacharacters are literal.
    ("a.c", "abc", False),
    ("(x)+[y]*", "(x)+[y]*", True),
    ("%$", "a$", True),
]


@pytest.mark.parametrize(("pattern", "text", "matches"), CASES)
def test_like_pattern(pattern: str, text: str, matches: bool) -> None:
    assert compile_like(pattern)(text) is matches
