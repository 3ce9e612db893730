"""CloudEvents SQL (CESQL v1): compile an expression once, evaluate it against many events.

    expression = compile_expression("type LIKE 'dev.shoal.%' AND EXISTS node")
    result = expression.evaluate(event.attributes)
    result.value, result.error

The engine is pure: no I/O, no clock, no web framework. See docs/cesql.md.
"""

from local_broker.cesql.errors import CesqlError, CesqlParseError, ErrorKind
from local_broker.cesql.expression import EvaluationResult, Expression, compile_expression

__all__ = [
    "CesqlError",
    "CesqlParseError",
    "ErrorKind",
    "EvaluationResult",
    "Expression",
    "compile_expression",
]
