"""A Dockerfile read into stages of instructions: enough to check its structure without Docker.

Comments and blank lines are dropped, `\\` continuations joined, `ARG`s before the first `FROM`
substituted into `FROM` lines (as Docker does). Exec-form arguments (`["a", "b"]`) are parsed
as JSON.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    arguments: str

    @property
    def exec_form(self) -> list[str] | None:
        """The arguments of `CMD ["a", "b"]`-style instructions, or None for shell form."""
        if not self.arguments.startswith("["):
            return None
        parsed = json.loads(self.arguments)
        return [str(item) for item in parsed]

    @property
    def words(self) -> list[str]:
        return shlex.split(self.arguments)


@dataclass(frozen=True, slots=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines


def parse(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    build_args: dict[str, str] = {}
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, arguments = line.partition(" ")
        keyword, arguments = keyword.upper(), arguments.strip()
        if keyword == "ARG" and not stages:
            name, _, default = arguments.partition("=")
            build_args[name] = default
        elif keyword == "FROM":
            expanded = re.sub(r"\$\{(\w+)\}", lambda m: build_args[m.group(1)], arguments)
            words = expanded.split()
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], alias))
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return stages
