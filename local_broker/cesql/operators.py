"""Compile binary operators, LIKE and IN (CESQL v1, sections 3.4.2, 3.4.3, 3.4.5 and 3.7).

Operands are evaluated left to right, then cast: both to Integer for arithmetic and ordering,
both to Boolean for AND, OR and XOR. `=`, `!=` and `<>` are defined for all three types, so the
right operand's type decides which one applies and only the left operand is cast (section 3.7,
"ambiguous" binary operators). IN casts every element to the left operand's type and compares
with `=` semantics; it evaluates every element, so its errors do not depend on their order.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from local_broker.cesql import casting, int32, nodes
from local_broker.cesql.compiled import Compiled, finish, missing_attribute
from local_broker.cesql.errors import CesqlError
from local_broker.cesql.like import compile_like as compile_pattern
from local_broker.cesql.types import Evaluator, Value
from local_broker.event import Attributes

_ORDERINGS: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_binary(node: nodes.Binary, left: Compiled, right: Compiled) -> Compiled:
    symbol = node.operator
    if symbol in ("AND", "OR", "XOR"):
        return Compiled(_logic(node, left, right), bool)
    if symbol in ("=", "!=", "<>"):
        return Compiled(_equality(node, left, right, equal=symbol == "="), bool)
    if symbol in _ORDERINGS:
        return Compiled(_ordering(node, left, right, _ORDERINGS[symbol]), bool)
    return Compiled(_arithmetic(node, left, right, int32.OPERATIONS[symbol]), int)


def _logic(node: nodes.Binary, left: Compiled, right: Compiled) -> Evaluator:
    first, second, symbol = left.evaluate, right.evaluate, node.operator
    if left.type is bool and right.type is bool:
        if symbol == "AND":
            return lambda attributes: first(attributes) and second(attributes)
        if symbol == "OR":
            return lambda attributes: first(attributes) or second(attributes)
        return lambda attributes: first(attributes) != second(attributes)

    def evaluate(attributes: Attributes) -> Value:
        errors: list[CesqlError] = []
        x = casting.to_boolean(first(attributes), errors)
        # Section 3.4.2: AND and OR are short-circuit evaluated.
        if symbol == "AND":
            result = x and casting.to_boolean(second(attributes), errors)
        elif symbol == "OR":
            result = x or casting.to_boolean(second(attributes), errors)
        else:
            result = x != casting.to_boolean(second(attributes), errors)
        return finish(result, errors, node)

    return evaluate


def _equality(node: nodes.Binary, left: Compiled, right: Compiled, *, equal: bool) -> Evaluator:
    first, second = left.evaluate, right.evaluate
    if isinstance(node.right, nodes.Literal) and type(node.right.value) is str:
        # The common filter shape `attribute = 'text'`: casting to String never fails.
        return _on_text(left, node.right.value.__eq__, negated=not equal)

    def evaluate(attributes: Attributes) -> Value:
        x, y = first(attributes), second(attributes)
        if type(x) is type(y):
            return (x == y) is equal
        errors: list[CesqlError] = []
        x = casting.cast_to(type(y), x, errors)
        return finish((x == y) is equal, errors, node)

    return evaluate


def _ordering(
    node: nodes.Binary, left: Compiled, right: Compiled, compare: Callable[[int, int], bool]
) -> Evaluator:
    first, second = left.evaluate, right.evaluate

    def evaluate(attributes: Attributes) -> Value:
        x, y = first(attributes), second(attributes)
        if type(x) is int and type(y) is int:
            return compare(x, y)
        errors: list[CesqlError] = []
        result = compare(casting.to_integer(x, errors), casting.to_integer(y, errors))
        return finish(result, errors, node)

    return evaluate


def _arithmetic(
    node: nodes.Binary, left: Compiled, right: Compiled, operation: int32.IntegerOperation
) -> Evaluator:
    first, second = left.evaluate, right.evaluate

    def evaluate(attributes: Attributes) -> Value:
        x, y = first(attributes), second(attributes)
        errors: list[CesqlError] = []
        result = operation(casting.to_integer(x, errors), casting.to_integer(y, errors), errors)
        return finish(result, errors, node)

    return evaluate


def compile_like(operand: Compiled, pattern: str, negated: bool) -> Compiled:
    """Section 3.4.3: the operand is cast to String, which never fails."""
    return Compiled(_on_text(operand, compile_pattern(pattern), negated=negated), bool)


def _on_text(operand: Compiled, predicate: Callable[[str], bool], *, negated: bool) -> Evaluator:
    """`predicate` (or its negation) on the operand cast to String.

    Filters are mostly `attribute LIKE ...` and `attribute = '...'`, so an attribute operand is
    read here directly: one Python call fewer per event than going through its evaluator.
    """
    attribute = operand.attribute
    if attribute is not None:
        name = attribute.name

        def on_attribute(attributes: Attributes) -> Value:
            try:
                value = attributes[name]
            except KeyError:
                raise missing_attribute(attribute) from None
            return predicate(value if type(value) is str else casting.to_string(value)) != negated

        return on_attribute

    inner = operand.evaluate

    def on_value(attributes: Attributes) -> Value:
        value = inner(attributes)
        return predicate(value if type(value) is str else casting.to_string(value)) != negated

    return on_value


def compile_in(node: nodes.In, operand: Compiled, elements: list[Compiled]) -> Compiled:
    inner, negated = operand.evaluate, node.negated
    evaluators = [element.evaluate for element in elements]

    def evaluate(attributes: Attributes) -> Value:
        x = inner(attributes)
        values = [element(attributes) for element in evaluators]
        errors: list[CesqlError] = []
        target = type(x)
        found = x in [casting.cast_to(target, value, errors) for value in values]
        return finish(found != negated, errors, node)

    constants = [e.value for e in node.elements if isinstance(e, nodes.Literal)]
    if len(constants) < len(elements):
        return Compiled(evaluate, bool)
    # All elements are literals: cast them once per left-operand type. A type for which some
    # cast fails keeps the general path, which reports the cast errors.
    member_sets: dict[type, frozenset[Value]] = {}
    for target in (bool, int, str):
        failures: list[CesqlError] = []
        members = frozenset(casting.cast_to(target, value, failures) for value in constants)
        if not failures:
            member_sets[target] = members

    def evaluate_constant_set(attributes: Attributes) -> Value:
        x = inner(attributes)
        members = member_sets.get(type(x))
        if members is None:
            return evaluate(attributes)
        return (x in members) != negated

    return Compiled(evaluate_constant_set, bool)
