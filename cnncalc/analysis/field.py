"""Receptive fields: every layer's taps composed into spans of the network input.

Exact for any stride, upsampling and dilation: a span is a pair of periodic integer
functions (the first and the last input position each output position reads), and a
layer's taps map one span onto the next (Araujo, Norris and Sim, Distill 2019, generalised
to fractional strides).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from math import gcd

from ..graph import Network
from ..layers import GLOBAL, MERGE, PASS, UNDEFINED, Facts
from ..layers.windows import Taps

MAX_FIELD_PERIOD = 100_000  # positions evaluated per period when composing receptive fields


@dataclass(frozen=True)
class ReceptiveField:
    """Per spatial dimension: size r, effective stride S, effective padding P (Araujo et al. 2019)."""

    size: tuple[int, ...]
    stride: tuple[Fraction, ...]
    padding: tuple[Fraction, ...]
    center: tuple[Fraction, ...] = ()  # C: output o's field is centred at C + S*o, input coordinates
    covers: bool = False  # every output position sees every input position


@dataclass(frozen=True)
class Periodic:
    """An integer function of the output position: f(o) = values[o % period] + (o // period) * step.

    A value of None marks a position that reads no input.
    """

    step: int
    period: int
    values: tuple[int | None, ...]

    def at(self, o: int) -> int | None:
        value = self.values[o % self.period]
        return None if value is None else value + (o // self.period) * self.step

    @cached_property
    def monotone(self) -> bool:
        """Never decreasing (and never empty): min and max over a range sit at its ends."""
        values = self.values
        if None in values or self.step < 0:
            return False
        return all(a <= b for a, b in zip(values, values[1:])) and values[-1] <= values[0] + self.step

    @property
    def slope(self) -> Fraction:
        return Fraction(self.step, self.period)


IDENTITY = Periodic(1, 1, (0,))


@dataclass(frozen=True)
class Span:
    """The first and last network-input positions that output position o depends on."""

    first: Periodic
    last: Periodic

    def field(self) -> tuple[int, Fraction, Fraction]:
        """(r, S, P): the largest span over a period, the slope, and -min(first(o) - S*o)."""
        if self.first.period == 1 and self.last.period == 1 and self.first.values[0] is not None:
            first, last = self.first.values[0], self.last.values[0]  # integer stride: no fractions
            return last - first + 1, Fraction(self.first.step), Fraction(-first)
        slope = self.first.slope
        period = self.first.period
        sizes, offsets = [], []
        for o in range(period):
            a, b = self.first.at(o), self.last.at(o)
            if a is None:
                continue
            sizes.append(b - a + 1)
            offsets.append(a - slope * o)
        if not sizes:
            return 0, slope, Fraction(0)
        return max(sizes), slope, -min(offsets)

    def center(self) -> Fraction:
        """C such that output position o's field is centred at C + S*o: exact for integer
        strides; after upsampling the centres alternate around it (a phase, not a shift),
        so C is their mean offset over one period."""
        if self.first.period == 1 and self.last.period == 1 and self.first.values[0] is not None:
            return Fraction(self.first.values[0] + self.last.values[0], 2)
        slope = self.first.slope
        offsets = [
            Fraction(self.first.at(o) + self.last.at(o), 2) - slope * o
            for o in range(self.first.period)
            if self.first.at(o) is not None
        ]
        return sum(offsets, Fraction(0)) / len(offsets) if offsets else Fraction(0)

    def covers(self, n: int, outputs: int) -> bool:
        """Does every one of `outputs` positions see all n input positions? Both ends of the
        field never decrease, so the last output's start and the first's end decide."""
        first, last = self.first.at(outputs - 1), self.last.at(0)
        if first is None or last is None or not (self.first.monotone and self.last.monotone):
            return all(
                self.first.at(o) is not None and self.first.at(o) <= 0 and self.last.at(o) >= n - 1
                for o in range(min(outputs, MAX_FIELD_PERIOD))
            )
        return first <= 0 and last >= n - 1


class FieldTracker:
    """Composes every layer's taps into spans of the network input (exact, any stride)."""

    def __init__(self, network: Network):
        self.layout = network.layout
        self.spans: dict[str, object] = {}
        self.origin: dict[str, tuple[int, ...]] = {}  # the spatial size of the input a value's field is in
        for name, shape in network.inputs.items():
            rank = len(shape) - 1
            self.spans[name] = tuple(Span(IDENTITY, IDENTITY) for _ in range(rank)) if rank else GLOBAL
            self.origin[name] = network.layout.split(shape)[1] if rank else ()
        self.undefined_reported = False

    def step(self, name: str, inputs: tuple[str, ...], in_shapes, facts: Facts, warnings: list[str]):
        origins = {self.origin[i] for i in inputs if self.spans[i] not in (GLOBAL, UNDEFINED)}
        if len(origins) > 1:
            warnings.append(f"{name}: its inputs see inputs of the network of different sizes; the receptive field is not defined")
            state = UNDEFINED
        else:
            state = self.compose(name, inputs, in_shapes, facts, warnings)
        self.input_spatial = origins.pop() if origins else ()
        state = self.settle(name, state, facts, warnings)
        values = [f"{name}.{i}" for i in range(len(facts.outputs))] if facts.outputs else [name]
        for value in values:
            self.spans[value] = state
            self.origin[value] = self.input_spatial
        if state in (GLOBAL, UNDEFINED):
            return None
        r, s, p = zip(*(span.field() for span in state))
        center = tuple(span.center() for span in state)
        out_spatial = self.layout.split(facts.output_shape)[1]
        covers = all(span.covers(n, m) for span, n, m in zip(state, self.input_spatial, out_spatial))
        return ReceptiveField(tuple(r), tuple(s), tuple(p), center, covers)

    def settle(self, name: str, state, facts: Facts, warnings: list[str]):
        """A field with the wrong number of axes for the output is global (a vector) or
        undefined; the first undefined field is reported."""
        if state not in (GLOBAL, UNDEFINED) and len(state) != len(facts.output_shape) - 1:
            state = GLOBAL if len(facts.output_shape) == 1 else UNDEFINED
        if state == UNDEFINED and not self.undefined_reported:
            warnings.append(f"{name}: the receptive field is not defined from this layer on")
            self.undefined_reported = True
        return state

    def compose(self, name, inputs, in_shapes, facts: Facts, warnings):
        states = [self.spans[i] for i in inputs]
        if UNDEFINED in states or facts.field == UNDEFINED:
            return UNDEFINED
        if GLOBAL in states or facts.field == GLOBAL:
            return GLOBAL
        if facts.field == PASS:
            return states[0]
        if facts.field == MERGE:
            return self.merge(name, inputs, in_shapes, facts.output_shape, states, warnings)
        spans = []
        for taps, span in zip(facts.field, states[0]):
            composed = (through(taps, span.first, min), through(taps, span.last, max))
            if composed[0] is None:
                warnings.append(f"{name}: the receptive field's pattern is too long to follow exactly (over {MAX_FIELD_PERIOD:,} positions)")
                return UNDEFINED
            spans.append(Span(*composed))
        return tuple(spans)

    def merge(self, name, inputs, in_shapes, out_shape, states, warnings):
        """The union of the inputs' fields (the hull of every path), dimension by dimension."""
        out_spatial = self.layout.split(out_shape)[1]
        if any(self.layout.split(shape)[1] != out_spatial for shape in in_shapes):
            warnings.append(f"{name}: an input is broadcast along a spatial axis; the receptive field is not shift-invariant")
            return UNDEFINED
        spans = []
        for dim in range(len(out_spatial)):
            parts = [state[dim] for state in states]
            if len({p.first.slope for p in parts}) > 1:
                strides = ", ".join(f"'{i}' (stride {p.first.slope})" for i, p in zip(inputs, parts))
                warnings.append(f"{name}: inputs are not aligned, their effective strides differ: {strides}")
                spans.append(max(parts, key=lambda p: p.field()[0]))
                continue
            if len({p.center() for p in parts}) > 1:
                centres = ", ".join(f"'{i}' ({float(p.center()):g})" for i, p in zip(inputs, parts))
                warnings.append(f"{name}: inputs are not aligned, the centres of their fields differ along axis {dim + 1}: {centres}")
            first, last = combine([p.first for p in parts], min), combine([p.last for p in parts], max)
            if first is None or last is None:
                warnings.append(f"{name}: the receptive field's pattern is too long to follow exactly (over {MAX_FIELD_PERIOD:,} positions)")
                return UNDEFINED
            spans.append(Span(first, last))
        return tuple(spans)


def through(taps: Taps, previous: Periodic, pick) -> Periodic | None:
    """o -> pick(previous(i) for i in taps(o)), as a Periodic; None if too costly to compute.

    When `previous` never decreases (every chain of windows), the first and the last tap
    decide the min and the max, so even a huge kernel costs two evaluations.
    """
    shift_periods = previous.period // gcd(taps.step, previous.period) if taps.step else 1
    period = taps.period * shift_periods
    if period > MAX_FIELD_PERIOD:
        return None
    step = (shift_periods * taps.step // previous.period) * previous.step if taps.step else 0
    monotone = previous.monotone
    values = []
    for o in range(period):
        reads = taps.at(o)
        if monotone and reads:
            reads = (reads[0], reads[-1])
        elif len(reads) > MAX_FIELD_PERIOD:
            return None
        candidates = [v for v in (previous.at(i) for i in reads) if v is not None]
        values.append(pick(candidates) if candidates else None)
    return Periodic(step, period, tuple(values))


def combine(parts: list[Periodic], pick) -> Periodic | None:
    """Pointwise min or max of functions with the same slope, over their common period;
    None when that period (the least common multiple) is too long to evaluate."""
    period = 1
    for part in parts:
        period = period * part.period // gcd(period, part.period)
        if period > MAX_FIELD_PERIOD:
            return None
    slope = parts[0].slope
    values = []
    for o in range(period):
        candidates = [v for v in (p.at(o) for p in parts) if v is not None]
        values.append(pick(candidates) if candidates else None)
    return Periodic(int(slope * period), period, tuple(values))
