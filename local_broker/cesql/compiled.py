"""What a syntax node compiles to, shared by the compiler's modules."""

from __future__ import annotations

from dataclasses import dataclass

from local_broker.cesql.errors import CesqlError, NodeEvaluationError
from local_broker.cesql.nodes import Attribute, Node
from local_broker.cesql.types import Evaluator, Value, ValueType


@dataclass(frozen=True, slots=True)
class Compiled:
    """A closure over an event's attributes, and the static type of what it returns.

    The type is None for attribute references: an attribute has the type of its value. For a
    bare attribute reference, `attribute` is its node, so that hot operators can read the
    attribute themselves instead of calling `evaluate`.
    """

    evaluate: Evaluator
    type: ValueType
    attribute: Attribute | None = None


def missing_attribute(node: Attribute) -> NodeEvaluationError:
    """Section 3.2: reading an attribute the event lacks is an error, and the value is a
    Boolean false when nothing encloses the reference to give it a return type."""
    error = CesqlError("missingAttribute", f"the event has no attribute {node.name!r}")
    return NodeEvaluationError((error,), False, node)


def finish(value: Value, errors: list[CesqlError], node: Node) -> Value:
    """`value`, unless `node` met errors computing it: then raise them along with it."""
    if errors:
        raise NodeEvaluationError(tuple(errors), value, node)
    return value
