"""Attribute declarations and the kinds of value they accept.

A layer class declares its attributes as `Attr(name, kind, default, aliases)`. A kind
turns the raw value the user wrote (a YAML scalar or list, or a DSL token) into the
normalised value the rules use, or raises `AttrError` saying what it expected. The parser
adds where the value was and which layer it belongs to.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


class AttrError(Exception):
    """A value of the wrong kind; the message says what was expected."""


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()


def show(value: Any) -> str:
    """A received value as the user would have written it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (nothing)"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v).strip("'") if isinstance(v, str) else show(v) for v in value) + "]"
    return str(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TUPLE_TEXT = re.compile(r"^\s*-?\d+(\s*x\s*-?\d+)+\s*$")


def _split_tuple_text(value: Any) -> Any:
    """'3x3' (the DSL's tuple spelling, also accepted in YAML) as [3, 3]."""
    if isinstance(value, str) and _TUPLE_TEXT.match(value):
        return [int(part) for part in value.split("x")]
    return value


class Kind:
    """How a value is checked and normalised; `describe` is the 'allowed' text."""

    describe = "a value"

    def convert(self, value: Any) -> Any:
        raise AttrError(f"expected {self.describe}")


class Int(Kind):
    def __init__(self, minimum: int = 1):
        self.minimum = minimum
        self.describe = {1: "a positive integer", 0: "a non-negative integer"}.get(
            minimum, f"an integer >= {minimum}"
        )

    def convert(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
            value = int(value)
        if not _is_int(value) or value < self.minimum:
            raise AttrError(f"expected {self.describe}")
        return value


class Ints(Kind):
    """One integer for every dimension, or a list with one per dimension (`3`, `[1, 7]`, '3x3')."""

    def __init__(self, minimum: int = 1):
        self.item = Int(minimum)
        self.describe = f"{self.item.describe} or a list of them, one per dimension"

    def convert(self, value: Any) -> int | tuple[int, ...]:
        value = _split_tuple_text(value)
        try:
            if isinstance(value, list):
                if not value:
                    raise AttrError("empty list")
                return tuple(self.item.convert(v) for v in value)
            return self.item.convert(value)
        except AttrError:
            raise AttrError(f"expected {self.describe}") from None


class Padding(Kind):
    """An int, one per dimension, [before, after] pairs per dimension, 'same' or 'valid'."""

    def __init__(self, strings: tuple[str, ...] = ("same", "valid"), pairs: bool = True):
        self.strings = strings
        self.pairs = pairs
        forms = ["a non-negative integer", "a list of them, one per dimension"]
        if pairs:
            forms.append("a list of [before, after] pairs")
        forms += [f"'{s}'" for s in strings]
        self.describe = ", ".join(forms[:-1]) + " or " + forms[-1]

    def convert(self, value: Any) -> Any:
        value = _split_tuple_text(value)
        if isinstance(value, str) and value.lower() in self.strings:
            return value.lower()
        item = Int(0)
        try:
            if isinstance(value, list) and value:
                if all(isinstance(v, list) for v in value) and self.pairs:
                    if any(len(v) != 2 for v in value):
                        raise AttrError("pair")
                    return tuple((item.convert(a), item.convert(b)) for a, b in value)
                return tuple(item.convert(v) for v in value)
            return item.convert(value)
        except AttrError:
            raise AttrError(f"expected {self.describe}") from None


class Number(Kind):
    def __init__(self, minimum: float | None = None, maximum: float | None = None, describe: str | None = None):
        self.minimum, self.maximum = minimum, maximum
        if describe:
            self.describe = describe
        elif minimum is not None and maximum is not None:
            self.describe = f"a number from {minimum:g} to {maximum:g}"
        elif minimum is not None:
            self.describe = f"a number >= {minimum:g}"
        else:
            self.describe = "a number"

    def convert(self, value: Any) -> float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise AttrError(f"expected {self.describe}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AttrError(f"expected {self.describe}")
        try:
            value = float(value)  # an integer of 400 digits does not fit a float
        except OverflowError:
            raise AttrError(f"expected {self.describe}, of a size a float holds (below 1.8e308)") from None
        if not math.isfinite(value):
            raise AttrError(f"expected {self.describe}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise AttrError(f"expected {self.describe}")
        return float(value)


class Numbers(Kind):
    """A positive number per dimension, or one for all (upsampling scale factors)."""

    describe = "a positive number or a list of them, one per dimension"

    def convert(self, value: Any) -> float | tuple[float, ...]:
        value = _split_tuple_text(value)
        item = Number(describe=self.describe)
        values = value if isinstance(value, list) and value else [value]
        result = tuple(item.convert(v) for v in values)
        if any(v <= 0 for v in result):
            raise AttrError(f"expected {self.describe}")
        return result if isinstance(value, list) else result[0]


class Flag(Kind):
    describe = "true or false"

    def convert(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise AttrError(f"expected {self.describe}")
        return value


class Choice(Kind):
    def __init__(self, *options: str):
        self.options = options
        self.describe = "one of " + ", ".join(f"'{o}'" for o in options)

    def convert(self, value: Any) -> str:
        if isinstance(value, str) and value.lower() in self.options:
            return value.lower()
        raise AttrError(f"expected {self.describe}")


class Axis(Kind):
    """A tensor axis counted as PyTorch's `dim` and Keras's `axis`: 0 is the batch, -1 the last."""

    describe = "an integer axis (0 is the batch, 1 the first axis of a sample, -1 the last)"

    def convert(self, value: Any) -> int:
        if not _is_int(value):
            raise AttrError(f"expected {self.describe}")
        return value


class Shape(Kind):
    """A target shape without the batch; one entry may be -1 (inferred)."""

    describe = "a list of positive integers, at most one of them -1"

    def convert(self, value: Any) -> tuple[int, ...]:
        value = _split_tuple_text(value)
        values = value if isinstance(value, list) else [value]
        if not values or not all(_is_int(v) and (v >= 1 or v == -1) for v in values) or values.count(-1) > 1:
            raise AttrError(f"expected {self.describe}")
        return tuple(values)


class OutputSize(Kind):
    """Adaptive pooling's output size: one int, or one per dimension where null keeps the input's."""

    describe = "a positive integer or a list of them (null keeps that dimension's size)"

    def convert(self, value: Any) -> int | tuple[int | None, ...]:
        value = _split_tuple_text(value)
        item = Int(1)
        try:
            if isinstance(value, list) and value:
                return tuple(None if v is None else item.convert(v) for v in value)
            return item.convert(value)
        except AttrError:
            raise AttrError(f"expected {self.describe}") from None


class Word(Kind):
    """A free word checked later against a table (an activation name)."""

    describe = "a name"

    def convert(self, value: Any) -> str:
        if value is None:
            return "linear"
        if not isinstance(value, str) or not value:
            raise AttrError(f"expected {self.describe}")
        return value


class LayerName(Kind):
    """The name of a layer above this one, or of an input, read as `from:` reads one: the
    layer then reads that value too (an upsampling's `like:` takes its size from it)."""

    describe = "the name of a layer above this one, or of an input"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise AttrError(f"expected {self.describe}")
        return value


@dataclass(frozen=True)
class Attr:
    """One attribute of a layer type: canonical name, kind, default and aliases."""

    name: str
    kind: Kind
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


# The attributes most layers share, with their PyTorch and Keras spellings (CONTRACT.md §2).
def OUT(doc: str = "output channels") -> Attr:
    return Attr("out", Int(1), REQUIRED, ("filters", "out_channels", "units", "out_features"), doc)


def KERNEL(default: Any = REQUIRED) -> Attr:
    return Attr("kernel", Ints(1), default, ("kernel_size", "pool_size", "k"), "window size")


def STRIDE(default: Any = 1, doc: str = "step between windows") -> Attr:
    return Attr("stride", Ints(1), default, ("strides", "s"), doc)


def DILATION() -> Attr:
    return Attr("dilation", Ints(1), 1, ("dilation_rate", "d"), "spacing between kernel taps")


def BIAS() -> Attr:
    return Attr("bias", Flag(), True, ("use_bias",), "add a learnt bias")


def IN_CHECK(doc: str = "expected input channels; inferred, checked if given") -> Attr:
    return Attr("in", Int(1), None, ("in_channels", "in_features", "num_features"), doc)


def ACTIVATION() -> Attr:
    return Attr("activation", Word(), "linear", (), "Keras's fused activation (a layer type such as relu)")
