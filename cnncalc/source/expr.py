"""Block parameter expressions: `$name` and `$(expression)`, evaluated safely.

The grammar is integer arithmetic and comparisons over the block's parameters, nothing
else: no calls, no attribute access, no exponent, no names outside the parameters.

    expression := disjunction
    disjunction := conjunction ('or' conjunction)*
    conjunction := negation ('and' negation)*
    negation   := 'not' negation | comparison
    comparison := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '//' | '%') unary)*
    unary      := '-' unary | atom
    atom       := INTEGER | NAME | 'true' | 'false' | '(' expression ')'

A tiny recursive-descent parser; `eval` is never used.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import did_you_mean

MAX_LENGTH = 500
MAX_NESTING = 32  # parentheses and signs inside one another (each level is several Python frames)
MAX_DIGITS = 400  # an intermediate result wider than this is refused (no exponent towers by products)

TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|<=|>=|==|!=|[-+*%<>()]))")


class ExprError(Exception):
    """A bad expression; `offset` is where in the text it went wrong."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.offset = offset


def tokenize(text: str) -> list[tuple[str, Any, int]]:
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is longer than {MAX_LENGTH} characters")
    for pattern, what in (("**", "exponents (**) are not allowed"), (".", "attribute access (.) is not allowed")):
        if pattern in text:
            raise ExprError(f"{what}; allowed: integers, parameter names, + - * // % ( ) and comparisons", text.index(pattern))
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = TOKEN.match(text, position)
        if not match:
            bad = text[position:].lstrip()[:1]
            offset = len(text) - len(text[position:].lstrip())
            raise ExprError(f"unexpected character '{bad}'; allowed: integers, parameter names, + - * // % ( ) and comparisons", offset)
        start = match.start(match.lastindex)
        number, name, op = match.groups()
        if number is not None:
            tokens.append(("int", int(number), start))
        elif name is not None:
            tokens.append(("name", name, start))
        else:
            tokens.append(("op", op, start))
        position = match.end()
    tokens.append(("end", None, len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, params: dict[str, Any]):
        self.tokens = tokenize(text)
        self.index = 0
        self.params = params
        self.depth = 0

    def deeper(self, offset: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExprError(f"the expression nests more than {MAX_NESTING} levels deep (parentheses, signs, 'not')", offset)

    def peek(self) -> tuple[str, Any, int]:
        return self.tokens[self.index]

    def take(self, *ops: str) -> str | None:
        kind, value, _ = self.peek()
        if (kind == "op" and value in ops) or (kind == "name" and value in ops):
            self.index += 1
            return value
        return None

    def run(self) -> Any:
        value = self.disjunction()
        kind, token, offset = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected '{token}' after a complete expression", offset)
        return value

    def disjunction(self) -> Any:
        value = self.conjunction()
        while self.take("or"):
            right = self.conjunction()
            value = _truth(value) or _truth(right)
        return value

    def conjunction(self) -> Any:
        value = self.negation()
        while self.take("and"):
            right = self.negation()
            value = _truth(value) and _truth(right)
        return value

    def negation(self) -> Any:
        offset = self.peek()[2]
        if self.take("not"):
            self.deeper(offset)
            value = not _truth(self.negation())
            self.depth -= 1
            return value
        return self.comparison()

    def comparison(self) -> Any:
        left = self.sum()
        op = self.take("<", "<=", ">", ">=", "==", "!=")
        if op is None:
            return left
        right = self.sum()
        if op in ("==", "!="):
            return (left == right) == (op == "==")
        left, right = _int(left, op), _int(right, op)
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]

    def sum(self) -> Any:
        value = self.product()
        while True:
            op = self.take("+", "-")
            if op is None:
                return value
            right = self.product()
            value = _checked(_int(value, op) + _int(right, op) if op == "+" else _int(value, op) - _int(right, op))

    def product(self) -> Any:
        value = self.unary()
        while True:
            offset = self.peek()[2]
            op = self.take("*", "//", "%")
            if op is None:
                return value
            right = _int(self.unary(), op)
            value = _int(value, op)
            if op == "*":
                value = _checked(value * right)
            elif right == 0:
                raise ExprError("division by zero", offset)
            else:
                value = value // right if op == "//" else value % right

    def unary(self) -> Any:
        offset = self.peek()[2]
        if self.take("-"):
            self.deeper(offset)
            value = -_int(self.unary(), "-")
            self.depth -= 1
            return value
        return self.atom()

    def atom(self) -> Any:
        kind, value, offset = self.peek()
        self.index += 1
        if kind == "int":
            return _checked(value)
        if kind == "name":
            if self.peek()[0] == "op" and self.peek()[1] == "(":
                raise ExprError(f"calls are not allowed ('{value}(...)'); allowed: arithmetic and comparisons", offset)
            if value in ("true", "false"):
                return value == "true"
            if value not in self.params:
                names = list(self.params)
                raise ExprError(
                    f"unknown parameter '{value}'{did_you_mean(value, names)}; allowed: "
                    + (", ".join(names) if names else "no parameters here"),
                    offset,
                )
            return self.params[value]
        if kind == "op" and value == "(":
            self.deeper(offset)
            inner = self.disjunction()
            if not self.take(")"):
                raise ExprError("missing ')'", self.peek()[2])
            self.depth -= 1
            return inner
        raise ExprError("expected a number, a parameter or '('" + ("" if kind != "end" else ", but the expression ended"), offset)


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    raise ExprError(f"expected true/false or an integer, not {value!r}")


def _int(value: Any, op: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExprError(f"'{op}' needs integers; received {value!r}")
    return value


def _checked(value: int) -> int:
    if abs(value) >= 10**MAX_DIGITS:
        raise ExprError(f"an intermediate result has more than {MAX_DIGITS} digits")
    return value


def evaluate(text: str, params: dict[str, Any]) -> Any:
    """Value of an expression over the parameters (raises ExprError)."""
    return _Parser(text, params).run()


WHOLE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$|^\$\((.*)\)$", re.DOTALL)


def substitute(value: Any, params: dict[str, Any]) -> Any:
    """`$name` (any value) and `$(expression)` replaced, also inside lists and mappings."""
    if isinstance(value, str):
        match = WHOLE.match(value.strip())
        if match is None:
            if value.strip().startswith("$"):
                raise ExprError("a parameter is written $name or $(expression)")
            return value
        name, expression = match.groups()
        if name is not None:
            if name not in params:
                names = list(params)
                raise ExprError(
                    f"unknown parameter '{name}'{did_you_mean(name, names)}; allowed: "
                    + (", ".join(names) if names else "no parameters here")
                )
            return params[name]
        return evaluate(expression, params)
    if isinstance(value, list):
        return [substitute(item, params) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, params) for key, item in value.items()}
    return value
