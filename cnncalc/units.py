"""Numbers as people read them, in messages and outputs alike: 1.23 M, 4.00 MiB, (3, 224, 224),
and exact fractions as JSON numbers. Plain functions of plain values; every layer may use them."""

from __future__ import annotations

from fractions import Fraction

UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def human(n: int) -> str:
    """1234567 as '1.23 M': three significant figures, SI letters; beyond the letters,
    scientific notation from the integer's digits (a float would overflow)."""
    if abs(n) >= 1000 * UNITS[0][0]:
        digits = str(abs(n))
        return f"{'-' if n < 0 else ''}{digits[0]}.{digits[1:3]}e{len(digits) - 1}"
    for scale, letter in UNITS:
        if abs(n) >= scale:
            value = n / scale
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{digits}f} {letter}"
    return str(n)


def human_bytes(n: int) -> str:
    if n >= 1000 * 2**40:  # beyond TiB: the digits, as human() writes them
        return f"{human(n)} B"
    for scale, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def shape_text(shape) -> str:
    """(3, 224, 224); the outputs of a layer with several joined by ' + '."""
    if shape and isinstance(shape[0], tuple):
        return " + ".join(shape_text(part) for part in shape)
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def size_text(shape) -> str:
    """3x224x224 (CSV, the DSL); several outputs joined by '+'."""
    if shape and isinstance(shape[0], tuple):
        return "+".join(size_text(part) for part in shape)
    return "x".join(map(str, shape))


def shape_list(shape) -> list:
    """A shape as JSON: a list of sizes, or a list of such lists for several outputs."""
    if shape and isinstance(shape[0], tuple):
        return [list(part) for part in shape]
    return list(shape)


def number(value: Fraction | int) -> int | float:
    """An exact fraction as JSON: an int when whole, else a float."""
    if isinstance(value, int):
        return value
    return value.numerator if value.denominator == 1 else float(value)


def per_dim_text(values) -> str:
    texts = [str(number(v)) for v in values]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)
