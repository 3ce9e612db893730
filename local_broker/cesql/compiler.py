"""Turn a syntax tree into a tree of closures, so evaluation does no parsing and no dispatch.

Every node compiles to a `Compiled`: a closure over the event's attributes plus the static type of
its result (None for attribute references, whose type is the attribute's). Static types let the
common shapes skip casts entirely; for example `node = 'n1'` compiles to one string comparison.

Errors follow CESQL v1 section 3.3: a node that meets an error raises `NodeEvaluationError` with the
value it defines (implicit casts that fail contribute the zero value of their target type, section
3.7). Enclosing nodes do not catch it: an operator whose operand failed has no obvious result, so
the whole expression yields the zero value of its type with the error (sections 3.2 and 3.3).
"""

from __future__ import annotations

from typing import NoReturn

from local_broker.cesql import casting, int32, nodes
from local_broker.cesql.compiled import Compiled, finish, missing_attribute
from local_broker.cesql.errors import CesqlError, NodeEvaluationError
from local_broker.cesql.functions import resolve
from local_broker.cesql.operators import compile_binary, compile_in, compile_like
from local_broker.cesql.types import INT32_MAX, INT32_MIN, Evaluator, Value
from local_broker.event import Attributes


def compile_node(node: nodes.Node) -> Compiled:
    """The closure evaluating `node` and everything under it."""
    match node:
        case nodes.Literal(value):
            return Compiled(lambda attributes: value, type(value))
        case nodes.Attribute():
            return _attribute(node)
        case nodes.Exists(name):
            # Section 3.4.4: true when the event carries the attribute.
            return Compiled(lambda attributes: name in attributes, bool)
        case nodes.Unary("NOT", operand):
            return Compiled(_not(node, compile_node(operand)), bool)
        case nodes.Unary("-", operand):
            return Compiled(_negate(node, compile_node(operand)), int)
        case nodes.Binary(_, left, right):
            return compile_binary(node, compile_node(left), compile_node(right))
        case nodes.Like(operand, pattern, negated):
            return compile_like(compile_node(operand), pattern, negated)
        case nodes.In(operand, elements, _):
            return compile_in(node, compile_node(operand), [compile_node(e) for e in elements])
        case nodes.Call(name, arguments):
            return _call(node, name, [compile_node(argument) for argument in arguments])
    raise AssertionError(f"unknown syntax node {node!r}")


def _attribute(node: nodes.Attribute) -> Compiled:
    name = node.name

    def evaluate(attributes: Attributes) -> Value:
        try:
            value = attributes[name]
        except KeyError:
            raise missing_attribute(node) from None
        if type(value) is int and not INT32_MIN <= value <= INT32_MAX:
            # Section 3.2: a value that is no CESQL primitive is represented as a String.
            return str(value)
        return value

    return Compiled(evaluate, None, node)


def _not(node: nodes.Node, operand: Compiled) -> Evaluator:
    inner = operand.evaluate
    if operand.type is bool:
        return lambda attributes: not inner(attributes)

    def evaluate(attributes: Attributes) -> Value:
        value = inner(attributes)
        if type(value) is bool:
            return not value
        errors: list[CesqlError] = []
        return finish(not casting.to_boolean(value, errors), errors, node)

    return evaluate


def _negate(node: nodes.Node, operand: Compiled) -> Evaluator:
    inner = operand.evaluate

    def evaluate(attributes: Attributes) -> Value:
        errors: list[CesqlError] = []
        value = int32.negate(casting.to_integer(inner(attributes), errors), errors)
        return finish(value, errors, node)

    return evaluate


def _call(node: nodes.Node, name: str, arguments: list[Compiled]) -> Compiled:
    signature = resolve(name, len(arguments))
    if signature is None:
        # Section 3.5: an invocation that cannot be dispatched is false and a missingFunction.
        message = f"no function {name} taking {len(arguments)} argument(s)"

        def missing(attributes: Attributes) -> NoReturn:
            raise NodeEvaluationError((CesqlError("missingFunction", message),), False, node)

        return Compiled(missing, bool)

    implementation = signature.implementation
    evaluators = [argument.evaluate for argument in arguments]
    targets = [signature.parameter_type(index) for index in range(len(arguments))]

    def evaluate(attributes: Attributes) -> Value:
        values = [argument(attributes) for argument in evaluators]
        errors: list[CesqlError] = []
        cast = [
            casting.cast_to(target, v, errors) for target, v in zip(targets, values, strict=True)
        ]
        return finish(implementation(cast, errors), errors, node)

    return Compiled(evaluate, signature.returns)
