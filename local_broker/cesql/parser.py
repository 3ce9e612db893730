"""Recursive-descent parser: CESQL text to a syntax tree (CESQL v1, sections 2 and 3.6).

Precedence, loosest first (section 3.6; equal precedence groups left to right):

    AND OR XOR          one level, so `a OR b AND c` is `(a OR b) AND c`
    = != <> < <= > >=
    + -
    * / %
    [NOT] LIKE, [NOT] IN   postfix on a unary operand
    NOT, unary -        prefix, so `NOT a = b` is `(NOT a) = b`
    function calls, EXISTS, ( ... ), literals, attributes
"""

from __future__ import annotations

from typing import cast

from local_broker.cesql import nodes
from local_broker.cesql.errors import CesqlParseError
from local_broker.cesql.lexer import Token, tokenize
from local_broker.cesql.types import INT32_MAX, INT32_MIN

LOGIC_OPERATORS: frozenset[str] = frozenset({"AND", "OR", "XOR"})
COMPARISON_OPERATORS: frozenset[str] = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
ADDITIVE_OPERATORS: frozenset[str] = frozenset({"+", "-"})
MULTIPLICATIVE_OPERATORS: frozenset[str] = frozenset({"*", "/", "%"})


def parse(source: str) -> nodes.Node:
    """The syntax tree of `source`; raises CesqlParseError naming what was expected where."""
    return _Parser(tokenize(source)).parse_all()


def _binary(operator: Token, left: nodes.Node, right: nodes.Node) -> nodes.Binary:
    # The caller checked the token against one of the operator sets above.
    return nodes.Binary(cast(nodes.BinaryOperator, operator.text), left, right)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0

    def parse_all(self) -> nodes.Node:
        tree = self._logic()
        token = self._peek()
        if token.kind != "end":
            raise self._error(f"expected an operator or end of input, found {token.describe()}")
        return tree

    # Binary levels (section 3.6, "Binary operators"), each left-associative.

    def _logic(self) -> nodes.Node:
        left = self._comparison()
        while self._peek_is("keyword", LOGIC_OPERATORS):
            left = _binary(self._advance(), left, self._comparison())
        return left

    def _comparison(self) -> nodes.Node:
        left = self._additive()
        while self._peek_is("operator", COMPARISON_OPERATORS):
            left = _binary(self._advance(), left, self._additive())
        return left

    def _additive(self) -> nodes.Node:
        left = self._multiplicative()
        while self._peek_is("operator", ADDITIVE_OPERATORS):
            left = _binary(self._advance(), left, self._multiplicative())
        return left

    def _multiplicative(self) -> nodes.Node:
        left = self._postfix()
        while self._peek_is("operator", MULTIPLICATIVE_OPERATORS):
            left = _binary(self._advance(), left, self._postfix())
        return left

    # LIKE and IN (sections 2.3, 3.4.3, 3.4.5).

    def _postfix(self) -> nodes.Node:
        operand = self._unary()
        while True:
            negated = self._peek_is("keyword", {"NOT"})
            if negated:
                self._advance()
                if not self._peek_is("keyword", {"LIKE", "IN"}):
                    raise self._error(f"expected LIKE or IN after NOT, found {self._describe()}")
            if self._peek_is("keyword", {"LIKE"}):
                self._advance()
                operand = nodes.Like(operand, self._like_pattern(), negated)
            elif self._peek_is("keyword", {"IN"}):
                self._advance()
                operand = nodes.In(operand, self._set(), negated)
            else:
                return operand

    def _like_pattern(self) -> str:
        token = self._peek()
        if token.kind != "string":
            # Section 3.4.3: the pattern MUST be a string literal, else a parse error.
            raise self._error(
                f"expected a string literal pattern after LIKE, found {self._describe()}"
            )
        self._advance()
        return token.string_value

    def _set(self) -> tuple[nodes.Node, ...]:
        self._expect("(", "expected '(' to open the set after IN")
        elements = [self._logic()]
        while self._peek_is("operator", {","}):
            self._advance()
            elements.append(self._logic())
        self._expect(")", "expected ',' or ')' to close the set after IN")
        return tuple(elements)

    # Prefix operators (section 3.4.1) and signed integer literals (section 2.2).

    def _unary(self) -> nodes.Node:
        token = self._peek()
        if token.kind == "keyword" and token.text == "NOT":
            self._advance()
            return nodes.Unary("NOT", self._unary())
        if token.kind == "operator" and token.text in ADDITIVE_OPERATORS:
            self._advance()
            if self._peek().kind == "integer":
                sign = -1 if token.text == "-" else 1
                return self._integer(self._advance(), sign, token.position)
            if token.text == "+":
                raise self._error(f"expected an integer after '+', found {self._describe()}")
            return nodes.Unary("-", self._unary())
        return self._primary()

    def _integer(self, token: Token, sign: int, position: int) -> nodes.Literal:
        value = sign * int(token.text)
        if not INT32_MIN <= value <= INT32_MAX:
            # Section 2.2: integer literals MUST be valid 32-bit signed integers.
            raise CesqlParseError(
                f"integer literal {value} is outside the 32-bit range {INT32_MIN}..{INT32_MAX}",
                position,
            )
        return nodes.Literal(value)

    # Atoms (sections 2.1, 2.2, 2.4, 3.4.4).

    def _primary(self) -> nodes.Node:
        token = self._peek()
        if token.kind == "integer":
            return self._integer(self._advance(), 1, token.position)
        if token.kind == "string":
            self._advance()
            return nodes.Literal(token.string_value)
        if token.kind == "keyword" and token.text in {"TRUE", "FALSE"}:
            self._advance()
            return nodes.Literal(token.text == "TRUE")
        if token.kind == "keyword" and token.text == "EXISTS":
            self._advance()
            return nodes.Exists(self._attribute_name("after EXISTS"))
        if token.kind == "operator" and token.text == "(":
            self._advance()
            inner = self._logic()
            self._expect(")", f"expected ')' to close the '(' at column {token.position}")
            return inner
        if token.kind == "word":
            if self._peek(1).kind == "operator" and self._peek(1).text == "(":
                return self._call()
            return nodes.Attribute(self._attribute_name(""))
        raise self._error(f"expected an expression, found {token.describe()}")

    def _attribute_name(self, context: str) -> str:
        token = self._peek()
        where = f" {context}" if context else ""
        if token.kind != "word":
            raise self._error(f"expected an attribute name{where}, found {token.describe()}")
        if not token.text.isalnum():
            # Section 2.2 and the CloudEvents naming convention: letters and digits only.
            raise self._error(
                f"invalid attribute name '{token.text}': names contain only letters and digits"
            )
        self._advance()
        return token.text.lower()

    def _call(self) -> nodes.Call:
        name_token = self._advance()
        name = name_token.text
        if not name[0].isalpha() or not name.replace("_", "").isalpha():
            # Section 2.4: a function name is a letter followed by letters and underscores.
            raise CesqlParseError(
                f"invalid function name '{name}': expected a letter followed by letters "
                "and underscores",
                name_token.position,
            )
        open_token = self._advance()
        arguments: list[nodes.Node] = []
        if not self._peek_is("operator", {")"}):
            arguments.append(self._logic())
            while self._peek_is("operator", {","}):
                self._advance()
                arguments.append(self._logic())
        self._expect(
            ")",
            f"expected ',' or ')' to close the arguments of {name.upper()} "
            f"opened at column {open_token.position}",
        )
        return nodes.Call(name.upper(), tuple(arguments))

    # Token helpers.

    def _peek(self, ahead: int = 0) -> Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _peek_is(self, kind: str, texts: frozenset[str] | set[str]) -> bool:
        token = self._peek()
        return token.kind == kind and token.text in texts

    def _advance(self) -> Token:
        token = self._peek()
        self._index += 1
        return token

    def _expect(self, operator: str, message: str) -> None:
        if not self._peek_is("operator", {operator}):
            raise self._error(f"{message}, found {self._describe()}")
        self._advance()

    def _describe(self) -> str:
        return self._peek().describe()

    def _error(self, message: str) -> CesqlParseError:
        return CesqlParseError(message, self._peek().position)
