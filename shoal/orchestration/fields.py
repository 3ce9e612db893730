"""Reading fields of a user-written document while collecting every problem found.

A `Reader` never raises: each helper records a `Problem` (field path plus what to write instead)
and returns a harmless placeholder, so one pass reports all mistakes of a spec at once.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from shoal.orchestration.quantity import Percent

__all__ = ["Problem", "Reader"]

_PERCENT = re.compile(r"([0-9]+)%")


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(document)'}: {self.message}"


@dataclass
class Reader:
    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def has_problem(self, path: str) -> bool:
        return any(problem.path == path for problem in self.problems)

    def fields(self, value: object, path: str, allowed: set[str]) -> Mapping[str, object]:
        """A mapping with only `allowed` keys; a misspelt key is reported with a suggestion."""
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a mapping of {', '.join(sorted(allowed))}")
            return {}
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {sorted(allowed)}"
                self.problem(_join(path, str(key)), f"is not a known field; {hint}")
        return value

    def integer(
        self,
        fields: Mapping[str, object],
        key: str,
        path: str,
        *,
        default: int | None,
        minimum: int = 0,
    ) -> int:
        """A whole number >= `minimum`; `default=None` makes the field required."""
        where = _join(path, key)
        if key not in fields:
            if default is None:
                self.problem(where, f"is required; write e.g. {key}: {max(minimum, 1)}")
                return minimum
            return default
        value = fields[key]
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        if isinstance(value, str) and value.strip().isdigit():
            hint = f"write it without quotes: {key}: {value.strip()}"
        else:
            hint = f"write a whole number of at least {minimum}"
        self.problem(where, f"is {value!r}; {hint}")
        return minimum

    def int_or_percent(
        self, fields: Mapping[str, object], key: str, path: str, *, limit_100: bool
    ) -> int | Percent:
        """A count (`3`) or a share of the desired replicas (`"25%"`); defaults to 25%."""
        value = fields.get(key, "25%")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        match = _PERCENT.fullmatch(value) if isinstance(value, str) else None
        if match and (not limit_100 or int(match[1]) <= 100):
            return Percent(int(match[1]))
        limit = " up to 100%" if limit_100 else ""
        self.problem(
            _join(path, key),
            f"is {value!r}; write a count like {key}: 1, or a percentage{limit} like {key}: 25%",
        )
        return Percent(25)

    def sequence(self, value: object, path: str, example: str) -> Sequence[object]:
        if isinstance(value, list | tuple):
            return value
        self.problem(path, f"must be a list; write e.g. {path.rsplit('.', 1)[-1]}: {example}")
        return ()

    def string_list(self, value: object, path: str) -> tuple[str, ...]:
        if isinstance(value, str):
            split = json.dumps(shlex.split(value))
            self.problem(path, f"must be a list of arguments, not one string; write {split}")
            return ()
        items = self.sequence(value, path, '["httpd", "-f"]')
        for index, item in enumerate(items):
            if not isinstance(item, str):
                self.problem(f"{path}[{index}]", f"is {item!r}; quote it: {_quoted(item)}")
        return tuple(str(item) for item in items)

    def string_map(
        self, value: object, path: str, *, key_pattern: re.Pattern[str] | None = None
    ) -> Mapping[str, str]:
        """A mapping of strings; numbers and booleans must be quoted, as Kubernetes requires."""
        if not isinstance(value, Mapping):
            self.problem(path, "must be a mapping of names to strings; write e.g. {zone: a}")
            return MappingProxyType({})
        for key, item in value.items():
            if not isinstance(key, str) or (key_pattern and not key_pattern.fullmatch(key)):
                self.problem(
                    _join(path, str(key)),
                    "is not a valid name; use letters, digits and '_', not starting with a digit",
                )
            elif not isinstance(item, str):
                self.problem(_join(path, key), f"is {item!r}; quote it: {key}: {_quoted(item)}")
        return MappingProxyType({str(key): str(item) for key, item in value.items()})


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _quoted(value: object) -> str:
    text = json.dumps(value) if isinstance(value, bool) or value is None else str(value)
    return json.dumps(text)
