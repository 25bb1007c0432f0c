"""The block-parameter expression evaluator: arithmetic and comparisons only, never eval."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnncalc.source.expr import ExprError, evaluate, substitute


@pytest.mark.parametrize(
    "text,expected",
    [
        ("4 * width", 256),
        ("(kernel - 1) // 2", 3),
        ("width % 5", 4),
        ("-width + 1", -63),
        ("stride == 1 and inp == out", False),
        ("not project or stride > 1", True),
        ("2 * (3 + 4) - 10 // 3", 11),
        ("width >= 64", True),
    ],
)
def test_arithmetic_and_comparisons(text, expected):
    assert evaluate(text, {"width": 64, "kernel": 7, "stride": 1, "inp": 16, "out": 24, "project": False}) == expected


@pytest.mark.parametrize(
    "text,word",
    [
        ("width ** 2", "exponents"),
        ("__import__('os')", "unexpected character"),
        ("__import__(1)", "calls"),
        ("open(1)", "calls"),
        ("width.real", "attribute"),
        ("[1, 2]", "unexpected character"),
        ("lambda: 1", "unexpected character"),
        ("width if 1 else 2", "unexpected"),
        ("height", "unknown parameter"),
        ("1 // 0", "division by zero"),
        ("(1 + 2", "missing ')'"),
        ("1 +", "ended"),
    ],
)
def test_everything_else_is_refused(text, word):
    with pytest.raises(ExprError) as info:
        evaluate(text, {"width": 64})
    assert word in str(info.value)


def test_no_exponent_towers_by_repeated_products():
    with pytest.raises(ExprError, match="digits"):
        evaluate("width * width * width", {"width": 10**150})
    with pytest.raises(ExprError, match="longer than"):
        evaluate(" * ".join(["width"] * 300), {"width": 2})


def test_substitution_keeps_types_and_walks_lists():
    params = {"width": 64, "k": [1, 7], "act": "relu", "flag": True}
    assert substitute({"out": "$width", "kernel": "$k", "activation": "$act", "if": "$flag"}, params) == {
        "out": 64, "kernel": [1, 7], "activation": "relu", "if": True}
    assert substitute(["$(width // 2)", 3, "plain"], params) == [32, 3, "plain"]


@given(a=st.integers(-10**6, 10**6), b=st.integers(1, 10**6), c=st.integers(-10**6, 10**6))
def test_agrees_with_python_integer_arithmetic(a, b, c):
    params = {"a": a, "b": b, "c": c}
    assert evaluate("a * c + a // b - c % b", params) == a * c + a // b - c % b
    assert evaluate("(a + c) * b <= c - a", params) == ((a + c) * b <= c - a)


@given(text=st.text(max_size=60))
def test_random_text_raises_only_expr_error(text):
    try:
        value = evaluate(text, {"width": 3})
    except ExprError as exc:
        assert 0 <= exc.offset <= len(text)  # where the caret goes, inside the text
        return
    assert type(value) in (int, bool)  # integer arithmetic and comparisons, nothing else
