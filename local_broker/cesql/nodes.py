"""The syntax tree of a CESQL expression (CESQL v1, section 2), as the parser builds it.

Nodes are frozen and compared by value, so parser tests can state the expected tree. They are
compared by identity (`is`) by the evaluator, to tell which node raised an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral
from typing import TypeAlias

from local_broker.cesql.types import Value

UnaryOperator: TypeAlias = TypingLiteral["NOT", "-"]
BinaryOperator: TypeAlias = TypingLiteral[
    "AND", "OR", "XOR", "=", "!=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"
]


@dataclass(frozen=True, eq=True)
class Literal:
    value: Value


@dataclass(frozen=True, eq=True)
class Attribute:
    """A context attribute or extension, by its lower-cased name (section 3.2)."""

    name: str


@dataclass(frozen=True, eq=True)
class Exists:
    name: str


@dataclass(frozen=True, eq=True)
class Unary:
    operator: UnaryOperator
    operand: Node


@dataclass(frozen=True, eq=True)
class Binary:
    operator: BinaryOperator
    left: Node
    right: Node


@dataclass(frozen=True, eq=True)
class Like:
    operand: Node
    pattern: str
    negated: bool = False


@dataclass(frozen=True, eq=True)
class In:
    operand: Node
    elements: tuple[Node, ...]
    negated: bool = False


@dataclass(frozen=True, eq=True)
class Call:
    """A function invocation, by its upper-cased name (function names are case-insensitive)."""

    name: str
    arguments: tuple[Node, ...]


Node: TypeAlias = Literal | Attribute | Exists | Unary | Binary | Like | In | Call
