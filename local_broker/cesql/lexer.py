"""Split a CESQL expression into tokens (CESQL v1, section 2).

Keywords are case-insensitive (section 2). A run of letters, digits and underscores is one
*word*: all digits make an integer literal, a keyword is a keyword, anything else is a name whose
role (attribute or function) the parser decides from what follows it. Integer literals carry no
sign here; the parser folds a leading `-` or `+` into the literal so that `-2147483648` is valid.

String literals are delimited by `'` or `"` (section 2.2). Inside, a backslash always pairs with
the next character, so `\\'` never ends a single-quoted literal. Only the delimiter escape is
decoded (`\\'` in `'...'`, `\\"` in `"..."`); any other backslash stays in the value, which keeps
`LIKE` escapes such as `'a\\%'` intact for the pattern compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from local_broker.cesql.errors import CesqlParseError

TokenKind: TypeAlias = Literal["integer", "string", "word", "keyword", "operator", "end"]

KEYWORDS = frozenset({"AND", "OR", "XOR", "NOT", "LIKE", "IN", "EXISTS", "TRUE", "FALSE"})
OPERATORS = ("!=", "<>", "<=", ">=", "(", ")", ",", "=", "<", ">", "+", "-", "*", "/", "%")
WHITESPACE = frozenset(" \t\r\n")
WORD_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class Token:
    """One token. `text` is the source text (upper-cased for keywords); `position` is 1-based."""

    kind: TokenKind
    text: str
    position: int
    string_value: str = ""

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind == "end":
            return "end of input"
        if self.kind == "string":
            return "string literal"
        return f"'{self.text}'"


def tokenize(source: str) -> list[Token]:
    """The tokens of `source`, ending with an `end` token; raises CesqlParseError."""
    tokens: list[Token] = []
    index = 0
    length = len(source)
    while index < length:
        character = source[index]
        if character in WHITESPACE:
            index += 1
        elif character in WORD_CHARACTERS:
            end = index
            while end < length and source[end] in WORD_CHARACTERS:
                end += 1
            tokens.append(_word(source[index:end], index + 1))
            index = end
        elif character in "'\"":
            token, index = _string(source, index)
            tokens.append(token)
        else:
            operator = next((op for op in OPERATORS if source.startswith(op, index)), None)
            if operator is None:
                hint = " (did you mean '!='?)" if character == "!" else ""
                raise CesqlParseError(f"unexpected character {character!r}{hint}", index + 1)
            tokens.append(Token("operator", operator, index + 1))
            index += len(operator)
    tokens.append(Token("end", "", length + 1))
    return tokens


def _word(text: str, position: int) -> Token:
    if all(character in DIGITS for character in text):
        return Token("integer", text, position)
    if text.upper() in KEYWORDS:
        return Token("keyword", text.upper(), position)
    return Token("word", text, position)


def _string(source: str, start: int) -> tuple[Token, int]:
    quote = source[start]
    index = start + 1
    while index < len(source):
        character = source[index]
        if character == "\\":
            index += 2
        elif character == quote:
            raw = source[start + 1 : index]
            value = raw.replace("\\" + quote, quote)
            return Token("string", source[start : index + 1], start + 1, value), index + 1
        else:
            index += 1
    raise CesqlParseError(
        f"unterminated string literal: expected a closing {quote} for the one opened here",
        start + 1,
    )
