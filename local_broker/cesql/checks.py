"""Static checks on a parsed expression, for callers that want problems at load time.

CESQL itself reports a call to an unknown function (or with the wrong number of arguments) as a
`missingFunction` error when the expression is evaluated (CESQL v1, section 3.5), and the TCK
holds an engine to that. A Trigger filter, though, should fail when its manifest loads, not
silently match nothing: the broker asks `unresolved_calls` and refuses such a filter.
"""

from __future__ import annotations

from local_broker.cesql import nodes
from local_broker.cesql.functions import resolve


def unresolved_calls(node: nodes.Node) -> list[str]:
    """A description of each function call in `node` that no built-in function can serve."""
    problems: list[str] = []
    pending: list[nodes.Node] = [node]
    while pending:
        current = pending.pop()
        match current:
            case nodes.Call(name, arguments):
                if resolve(name, len(arguments)) is None:
                    problems.append(f"no function {name} taking {len(arguments)} argument(s)")
                pending.extend(arguments)
            case nodes.Unary(_, operand):
                pending.append(operand)
            case nodes.Binary(_, left, right):
                pending.extend((left, right))
            case nodes.Like(operand, _, _):
                pending.append(operand)
            case nodes.In(operand, elements, _):
                pending.append(operand)
                pending.extend(elements)
    return problems
