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

from ..errors import CnnWarning, WarningKind, format_shape
from ..graph import Network
from ..layers import FLATTEN, GLOBAL, MERGE, PASS, UNDEFINED, Facts
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
    context: str | None = None  # a value seeing the whole input (a squeeze-excitation gate) on the path: the field is the main path's


@dataclass(frozen=True)
class NoField:
    """Why a layer has no receptive field: `global` (every output position sees every
    input position, or the layer's output is a vector) or `undefined` (positions were
    rearranged: none is a place of the input), and the reason, naming where it began."""

    status: str
    reason: str


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
    """Composes every layer's taps into spans of the network input (exact, any stride).

    A value's state is one Span per spatial axis (a local field); GLOBAL (every position
    sees every input position, or a vector made by mixing them: a global pool, a linear
    layer); FLATTEN (a vector whose features are a map's positions: each keeps its own
    field, and the vector as a whole sees the whole input); or UNDEFINED (positions were
    rearranged, so none of them is a place of the input). `reasons` says why a value is
    global or undefined, naming the layer it began at.

    A merge (add, multiply, concat) one of whose operands sees the whole input (a
    squeeze-excitation gate: global pooling, then a scale broadcast over the map) gets the
    field of its other operands, the main path, and notes the gate in `context`: the true
    dependence is global, but the local field is the one that describes the layer's
    geometry. `gates` lists those operands per merge, for `rf --verify` to freeze.
    """

    def __init__(self, network: Network):
        self.layout = network.layout
        self.spans: dict[str, object] = {}
        self.origin: dict[str, tuple[int, ...]] = {}  # the spatial size of the input a value's field is in
        self.reasons: dict[str, str] = {}  # why a value is GLOBAL, FLATTEN or UNDEFINED
        self.context: dict[str, str] = {}  # the operand seeing the whole input that last joined a local value's path
        self.gates: dict[str, tuple[str, ...]] = {}  # merge layer -> its operands that see the whole input
        for name, shape in network.inputs.items():
            rank = len(shape) - 1
            self.spans[name] = tuple(Span(IDENTITY, IDENTITY) for _ in range(rank)) if rank else GLOBAL
            self.origin[name] = network.layout.split(shape)[1] if rank else ()
            if not rank:
                self.reasons[name] = f"the input '{name}' has no spatial axis"
        self.undefined_reported = False

    def step(self, name: str, inputs: tuple[str, ...], in_shapes, facts: Facts, warnings: list[str]):
        """The layer's field (a ReceptiveField), or why it has none (a NoField)."""
        origins = {self.origin[i] for i in inputs if isinstance(self.spans[i], tuple)}
        context = None
        if len(origins) > 1:
            warnings.append(CnnWarning(WarningKind.FIELD, f"{name}: its inputs see inputs of the network of different sizes; the receptive field is not defined"))
            state, reason = UNDEFINED, f"'{name}' joins values computed from inputs of the network of different sizes"
        else:
            state, reason, context = self.compose(name, inputs, in_shapes, facts, warnings)
        self.input_spatial = origins.pop() if origins else ()
        state, reason = self.settle(name, state, reason, facts, warnings)
        values = [f"{name}.{i}" for i in range(len(facts.outputs))] if facts.outputs else [name]
        for value in values:
            self.spans[value] = state
            self.origin[value] = self.input_spatial
            if reason is not None:
                self.reasons[value] = reason
            if context is not None:
                self.context[value] = context
        if not isinstance(state, tuple):
            return NoField("undefined" if state == UNDEFINED else "global", reason)
        r, s, p = zip(*(span.field() for span in state))
        center = tuple(span.center() for span in state)
        out_spatial = self.layout.split(facts.output_shape)[1]
        covers = all(span.covers(n, m) for span, n, m in zip(state, self.input_spatial, out_spatial))
        return ReceptiveField(tuple(r), tuple(s), tuple(p), center, covers, context)

    def settle(self, name: str, state, reason, facts: Facts, warnings: list[str]):
        """A field with the wrong number of axes for the output is global (a vector) or
        undefined; the first undefined field is reported."""
        rank = len(facts.output_shape) - 1
        if isinstance(state, tuple) and len(state) != rank:
            if rank == 0:
                state, reason = GLOBAL, f"'{name}' leaves no spatial axis"
            else:
                state, reason = UNDEFINED, f"'{name}' changes the number of spatial axes to {rank}"
        if state == UNDEFINED and not self.undefined_reported:
            warnings.append(CnnWarning(WarningKind.FIELD, f"{name}: the receptive field is undefined from this layer on: {reason}"))
            self.undefined_reported = True
        return state, reason

    def compose(self, name, inputs, in_shapes, facts: Facts, warnings):
        """(state, reason if global or undefined, the gate whose context the field carries)."""
        if facts.field != MERGE:  # a layer of one data input (others, as upsample's like:, give only a size)
            inputs, in_shapes = inputs[:1], in_shapes[:1]
        states = [self.spans[i] for i in inputs]
        if facts.field == GLOBAL and all(n == 1 for n in self.layout.split(facts.output_shape)[1]):
            return GLOBAL, f"'{name}' mixes every position", None  # whatever the positions were, all are mixed
        for value, state in zip(inputs, states):
            if state == UNDEFINED:
                return UNDEFINED, self.reasons[value], None
        if facts.field == MERGE:
            return self.merge(name, inputs, in_shapes, facts.output_shape, states, warnings)
        if facts.field == GLOBAL:
            return GLOBAL, f"'{name}' mixes every position", None
        for value, state in zip(inputs, states):
            if state == GLOBAL:  # rearranging positions that each see everything: they still do
                return GLOBAL, self.reasons[value], None
        moved = f"{' + '.join(map(format_shape, in_shapes))} to {format_shape(facts.output_shape)}"
        if states[0] == FLATTEN:
            if facts.field in (PASS, FLATTEN):
                return FLATTEN, self.reasons[inputs[0]], None
            return UNDEFINED, f"'{name}' lays a flattened vector out again ({moved}); its positions are not followed back to the input", None
        context = self.context.get(inputs[0])
        if facts.field == FLATTEN:
            return FLATTEN, f"'{name}' joins every position into one vector (each feature keeps its own position's field)", None
        if facts.field == UNDEFINED:
            return UNDEFINED, f"'{name}' moves values between positions ({moved}), so its positions are not places of the input", None
        if facts.field == PASS:
            return states[0], None, context
        spans = []
        for taps, span in zip(facts.field, states[0]):
            composed = (through(taps, span.first, min), through(taps, span.last, max))
            if composed[0] is None:
                warnings.append(CnnWarning(WarningKind.FIELD, f"{name}: the receptive field's pattern is too long to follow exactly (over {MAX_FIELD_PERIOD:,} positions)"))
                return UNDEFINED, f"the field's pattern at '{name}' is too long to follow exactly", None
            spans.append(Span(*composed))
        return tuple(spans), None, context

    def sees_everything(self, value: str, shape, out_spatial) -> bool:
        """A value broadcast over the map whose one position sees all of its input: global
        pooling or an adaptive pool to 1, and what follows it (a squeeze-excitation gate)."""
        state = self.spans[value]
        if state == GLOBAL:
            return True
        if not isinstance(state, tuple):
            return False
        spatial = self.layout.split(shape)[1]
        broadcast = spatial != tuple(out_spatial) and all(n == 1 for n in spatial)
        return broadcast and all(span.covers(m, 1) for span, m in zip(state, self.origin[value]))

    def merge(self, name, inputs, in_shapes, out_shape, states, warnings):
        """The union of the inputs' fields (the hull of every path), dimension by dimension.
        Operands that see the whole input are context: the field is the other operands'."""
        out_spatial = self.layout.split(out_shape)[1] if len(out_shape) > 1 else ()
        whole = [i for i, shape in zip(inputs, in_shapes) if self.sees_everything(i, shape, out_spatial)]
        local = [(i, shape, state) for i, shape, state in zip(inputs, in_shapes, states) if i not in whole]
        if not local or len(out_shape) == 1:
            if all(state == FLATTEN for state in states):
                return FLATTEN, self.reasons[inputs[0]], None
            first = next((i for i in inputs if i in self.reasons), None)
            return GLOBAL, self.reasons[first] if first else f"'{name}' mixes every position", None
        if any(state == FLATTEN for _, _, state in local):
            return UNDEFINED, f"'{name}' joins a flattened vector with a map", None
        inputs, in_shapes, states = zip(*local)
        if any(self.layout.split(shape)[1] != out_spatial for shape in in_shapes):
            warnings.append(CnnWarning(WarningKind.FIELD, f"{name}: an input is broadcast along a spatial axis; the receptive field is not shift-invariant"))
            return UNDEFINED, f"'{name}' broadcasts an input along a spatial axis", None
        spans = []
        for dim in range(len(out_spatial)):
            parts = [state[dim] for state in states]
            if len({p.first.slope for p in parts}) > 1:
                strides = ", ".join(f"'{i}' (stride {p.first.slope})" for i, p in zip(inputs, parts))
                warnings.append(CnnWarning(WarningKind.MISALIGNED, f"{name}: inputs are not aligned, their effective strides differ: {strides}"))
                spans.append(max(parts, key=lambda p: p.field()[0]))
                continue
            if len({p.center() for p in parts}) > 1:
                centres = ", ".join(f"'{i}' ({float(p.center()):g})" for i, p in zip(inputs, parts))
                warnings.append(CnnWarning(WarningKind.MISALIGNED, f"{name}: inputs are not aligned, the centres of their fields differ along axis {dim + 1}: {centres}"))
            first, last = combine([p.first for p in parts], min), combine([p.last for p in parts], max)
            if first is None or last is None:
                warnings.append(CnnWarning(WarningKind.FIELD, f"{name}: the receptive field's pattern is too long to follow exactly (over {MAX_FIELD_PERIOD:,} positions)"))
                return UNDEFINED, f"the field's pattern at '{name}' is too long to follow exactly", None
            spans.append(Span(first, last))
        if whole:
            self.gates[name] = tuple(whole)
            return tuple(spans), None, whole[-1]
        return tuple(spans), None, next((self.context[i] for i in inputs if i in self.context), None)


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
