"""The parser: syntax trees, precedence (CESQL v1 section 3.6) and parse errors with positions."""

from __future__ import annotations

import pytest

from local_broker.cesql import CesqlError, CesqlParseError, compile_expression
from local_broker.cesql.nodes import Attribute, Binary, Call, Exists, In, Like, Literal, Node, Unary
from local_broker.cesql.parser import parse

A, B, C = Attribute("a"), Attribute("b"), Attribute("c")


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("TRUE", Literal(True)),
        ("fAlSe", Literal(False)),
        ("0", Literal(0)),
        ("-2147483648", Literal(-2147483648)),
        ("+7", Literal(7)),
        ("'it\\'s'", Literal("it's")),
        ('"say \\"hi\\""', Literal('say "hi"')),
        ("'a\"b'", Literal('a"b')),
        ("'ab\\c'", Literal("ab\\c")),
        ("'a\\\\'", Literal("a\\\\")),
        ("Source", Attribute("source")),
        ("a1b2", Attribute("a1b2")),
        ("123abc", Attribute("123abc")),
        ("EXISTS SUBJECT", Exists("subject")),
        ("int(hop)", Call("INT", (Attribute("hop"),))),
        ("concat_ws (',', a)", Call("CONCAT_WS", (Literal(","), A))),
        ("CONCAT()", Call("CONCAT", ())),
        ("--10", Unary("-", Literal(-10))),
        ("-a", Unary("-", A)),
        ("NOT NOT a", Unary("NOT", Unary("NOT", A))),
        ("a LIKE 'x%'", Like(A, "x%")),
        ('a NOT LIKE "x"', Like(A, "x", negated=True)),
        ("a IN (1)", In(A, (Literal(1),))),
        ("a not in (b, 'c')", In(A, (B, Literal("c")), negated=True)),
        ("(a)", A),
    ],
)
def test_parses_atoms_and_operators(source: str, tree: Node) -> None:
    assert parse(source) == tree


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        # * / % bind tighter than + -, which bind tighter than comparisons.
        ("a + b * c", Binary("+", A, Binary("*", B, C))),
        ("a - b - c", Binary("-", Binary("-", A, B), C)),
        ("a < b = c", Binary("=", Binary("<", A, B), C)),
        ("a = b + c", Binary("=", A, Binary("+", B, C))),
        # AND, OR and XOR share one level and group left to right (section 3.6).
        ("a OR b AND c", Binary("AND", Binary("OR", A, B), C)),
        ("a AND b OR c", Binary("OR", Binary("AND", A, B), C)),
        ("a XOR b AND c", Binary("AND", Binary("XOR", A, B), C)),
        # Unary operators bind tightest, tighter than LIKE, IN and comparisons.
        ("NOT a = b", Binary("=", Unary("NOT", A), B)),
        ("NOT a LIKE 'x'", Like(Unary("NOT", A), "x")),
        ("-a IN (1)", In(Unary("-", A), (Literal(1),))),
        ("NOT EXISTS a", Unary("NOT", Exists("a"))),
        # LIKE and IN bind tighter than arithmetic.
        ("a + b LIKE 'x'", Binary("+", A, Like(B, "x"))),
        ("a = b IN (c)", Binary("=", A, In(B, (C,)))),
        ("a LIKE 'x' IN (TRUE)", In(Like(A, "x"), (Literal(True),))),
        # A sign before an integer is part of the literal; elsewhere `-` is subtraction.
        ("4 -1", Binary("-", Literal(4), Literal(1))),
        ("4 + -1", Binary("+", Literal(4), Literal(-1))),
        ("a AND (b OR c)", Binary("AND", A, Binary("OR", B, C))),
    ],
)
def test_precedence(source: str, tree: Node) -> None:
    assert parse(source) == tree


@pytest.mark.parametrize(
    ("source", "position", "expected"),
    [
        ("", 1, "expected an expression, found end of input"),
        ("   ", 4, "expected an expression, found end of input"),
        ("ABC(", 5, "expected an expression, found end of input"),
        ("ABC(1", 6, "expected ',' or ')' to close the arguments of ABC"),
        ("(1 + 2", 7, "expected ')' to close the '(' at column 1"),
        ("1 + 2)", 6, "expected an operator or end of input, found ')'"),
        ("a b", 3, "expected an operator or end of input, found 'b'"),
        ("x LIKE 123", 8, "expected a string literal pattern after LIKE, found '123'"),
        ("x LIKE y", 8, "expected a string literal pattern after LIKE"),
        ("x IN 1", 6, "expected '(' to open the set after IN"),
        ("x IN ()", 7, "expected an expression, found ')'"),
        ("x IN (1, 2", 11, "expected ',' or ')' to close the set after IN"),
        ("x NOT 1", 7, "expected LIKE or IN after NOT"),
        ("EXISTS 'a'", 8, "expected an attribute name after EXISTS, found string literal"),
        ("EXISTS", 7, "expected an attribute name after EXISTS, found end of input"),
        ("my_ext = 1", 1, "invalid attribute name 'my_ext'"),
        ("f1(2)", 1, "invalid function name 'f1'"),
        ("_F(2)", 1, "invalid function name '_F'"),
        ("2147483648", 1, "integer literal 2147483648 is outside the 32-bit range"),
        ("1 + -2147483649", 5, "integer literal -2147483649 is outside the 32-bit range"),
        ("+a", 2, "expected an integer after '+'"),
        ("'abc", 1, "unterminated string literal"),
        ("a = 'it\\'", 5, "unterminated string literal"),
        ("a ! b", 3, "unexpected character '!' (did you mean '!='?)"),
        ("a = b;", 6, "unexpected character ';'"),
        ("a = 1 AND\nb $ 2", 13, "unexpected character '$'"),
        ("TRUE(1)", 5, "expected an operator or end of input, found '('"),
    ],
)
def test_parse_errors_name_what_was_expected_and_where(
    source: str, position: int, expected: str
) -> None:
    with pytest.raises(CesqlParseError) as raised:
        compile_expression(source)
    error = raised.value
    assert error.position == position
    assert expected in error.reason
    assert error.kind == "parse"
    assert isinstance(error, CesqlError)
    assert str(error) == f"{error.reason} (column {position})"


def test_keywords_are_not_attribute_names() -> None:
    with pytest.raises(CesqlParseError, match="expected an attribute name after EXISTS"):
        compile_expression("EXISTS in")


def test_too_deep_nesting_is_a_parse_error() -> None:
    with pytest.raises(CesqlParseError, match="nests too deeply") as raised:
        compile_expression("(" * 2000 + "1" + ")" * 2000)
    assert raised.value.position == 1


def test_long_or_chains_compile() -> None:
    source = " OR ".join(f"type = 't{index}'" for index in range(300))
    assert compile_expression(source).evaluate({"type": "t299"}).passes
