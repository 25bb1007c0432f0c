"""`cnncalc rf --verify`: every receptive field measured by propagation, independently of
the formula, through the NumPy forward pass.

For each spatial axis and each input coordinate i, one probe input is zero everywhere
except the slice at coordinate i along that axis (all channels, every position of the
other axes), which is one. With positive weights (each output the mean of what it reads,
so nothing overflows), zero biases and unit BatchNorm, an output position changes
against the all-zero input exactly when its field contains i. A batch of probes, one per
coordinate, measures every output position's field along that axis at once.

The formula's field (the hull of the input positions an output reads, padding included)
is then checked at every output position (see `judge`: exact away from the borders, an
upper bound near them). Two conventions of the formula are kept during the check:
normalisation that computes statistics over positions (layer, group, instance norm and
BatchNorm without running statistics) runs as the identity, and padding modes other than
zeros pad with zeros, since the field counts padding as padding, not as the input it
copies.

A gate that sees the whole input (squeeze-excitation: global pooling, then a scale
multiplied into the map) makes every output after it depend on every input position. The
formula reports the field through the main path instead (the gate noted as global
context), so the check holds each such gate at its value for the all-zero input, making it
a constant: what is measured is then the main path's field, and it must agree. Global
layers themselves (the gate's own pooling) are still checked to see the whole input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..analysis import FieldTracker, Summary
from ..errors import CnnError
from ..layers import FLATTEN, GLOBAL, UNDEFINED
from ..layers.base import nbytes
from ..graph import Network
from ..units import human_bytes
from .runner import RECORD_BYTES, SCRATCH_BYTES, execute, forward_peak, machine_memory, value_shapes, weight_bytes

PROBES_PER_BATCH = 16
PART_BYTES = 256  # a hit matrix's part from one pass: its array object, its place in a list
# The longest verification accepted, and the rates of this project's machine (2 cores,
# float64) that estimate it: fitted on forward passes of 16 probes through the example
# networks (within 35% of the measured time for 13 of them, at 3 to 240 layers).
MAX_SECONDS = 60
FLOPS_PER_SECOND = 1.0e10
VALUES_PER_SECOND = 1.0e9  # output values made, compared with the baseline, reduced to hits
SECONDS_PER_LAYER = 2e-3  # NumPy's and Python's share of one layer in one pass
SECONDS_PER_POSITION = 1e-5  # judging one output position of one layer along one axis


@dataclass(frozen=True)
class Cost:
    """What verifying a network costs: its peak memory, the time it should take, and the
    figures behind them."""

    bytes: int
    seconds: float
    probes: int  # one per input coordinate along each spatial axis
    passes: int  # forward passes, PROBES_PER_BATCH probes each
    hits: int  # bytes of hit matrices: probes x outputs along the axis, per layer and axis
    pass_seconds: float  # one forward pass of a batch of probes


def probe_weights(summary: Summary, network: Network) -> dict:
    """Every tensor at its role's probe value: kernels averaging what each output reads,
    zero shifts and means, unit scales and variances."""
    layers = {node.name: node.layer for node in network.nodes}
    return {
        row.name: {leaf: layers[row.name].role(leaf).probe(shape) for leaf, shape in (*row.weights, *row.buffers)}
        for row in summary.layers
    }


def probing(network: Network, params: dict) -> Network:
    """The network with every layer under the verification conventions (Layer.for_probing)."""
    nodes = tuple(replace(node, layer=node.layer.for_probing(params.get(node.name, {}))) for node in network.nodes)
    return replace(network, nodes=nodes)


def spatial_view(x: np.ndarray, layout, rank: int) -> np.ndarray | None:
    """(B, C, *spatial) of a batched output, or None when it has no spatial axes left."""
    if x.ndim - 2 != rank:
        return None
    return np.moveaxis(x, -1, 1) if layout.channels_last else x


def measure(network: Network, summary: Summary) -> dict[str, tuple[tuple[int, ...] | None, bool]]:
    """Per layer: (measured field size per axis, or None if it sees everything) and whether
    the formula agrees with the measurement at every output position."""
    shape = network.input_shape
    rank = len(shape) - 1
    if rank < 1:
        return {}
    layout = network.layout
    channels, spatial = layout.split(shape)
    check_cost(network, summary)
    params = probe_weights(summary, network)
    tracker = FieldTracker(network)
    shapes = dict(network.inputs)
    for row in summary.layers:
        shapes.update(value_shapes(row.name, row.output_shape))
    # a layer with several outputs (split, chunk) is measured on its first: all have its field
    first = {row.name: next(iter(value_shapes(row.name, row.output_shape))) for row in summary.layers}
    for node in network.nodes:
        in_shapes = tuple(shapes[name] for name in node.inputs)
        tracker.step(node.name, node.inputs, in_shapes, node.layer.infer(in_shapes, layout), [])
    hits: dict[str, list[np.ndarray]] = {row.name: [] for row in summary.layers}
    network = probing(network, params)
    with np.errstate(all="ignore"):
        zero = np.zeros((1, *shape))
        _, baseline, _ = execute(network, params, zero, keep=True)
        held = {merge: {gate: baseline[gate] for gate in gates} for merge, gates in tracker.gates.items()}
        for axis in range(rank):
            per_layer: dict[str, list[np.ndarray]] = {row.name: [] for row in summary.layers}
            for start in range(0, spatial[axis], PROBES_PER_BATCH):
                stop = min(start + PROBES_PER_BATCH, spatial[axis])
                probes = np.zeros((stop - start, channels, *spatial))
                for b, i in enumerate(range(start, stop)):
                    index = [b, slice(None)] + [slice(None)] * rank
                    index[2 + axis] = i
                    probes[tuple(index)] = 1.0
                if layout.channels_last:
                    probes = np.moveaxis(probes, 1, -1)

                def record(node, out, per_layer=per_layer, axis=axis):
                    out = np.asarray(out[0] if isinstance(out, tuple) else out)
                    changed = spatial_view(out != baseline[first[node.name]], layout, rank)
                    if changed is None:
                        per_layer[node.name].append(np.asarray(out != baseline[first[node.name]]).reshape(len(out), -1).any(axis=1))
                        return
                    others = tuple(a for a in range(1, changed.ndim) if a != 2 + axis)
                    per_layer[node.name].append(changed.any(axis=others))  # (probes, outputs along axis)

                execute(network, params, probes, on_layer=record, held=held)
            for name, parts in per_layer.items():
                hits[name].append(np.concatenate(parts, axis=0))
    # Interior bounds: the field of a layer's position -1 ends at span.last(-1), that of its
    # first position past the end starts at span.first(n). An output whose field lies
    # strictly between those of every layer so far uses no padded or left-over position.
    verdicts = {}
    bounds = [(-1, n) for n in spatial]  # the input's own: positions -1 and n
    for row in summary.layers:
        state = tracker.spans[first[row.name]]
        # a layer's own positions past its ends are read only by the layers after it
        verdicts[row.name] = judge(state, hits[row.name], spatial, bounds)
        if isinstance(state, tuple) and len(state) == rank:
            sizes = layout.split(shapes[first[row.name]])[1]
            for axis, (span, n) in enumerate(zip(state, sizes)):
                left, right = bounds[axis]
                before, after = span.last.at(-1), span.first.at(n)
                bounds[axis] = (left if before is None else max(left, before), right if after is None else min(right, after))
    return {name: verdict for name, verdict in verdicts.items() if verdict is not None}


def estimate(network: Network, summary: Summary) -> Cost:
    """What `measure` will cost, before it allocates anything.

    Memory, an upper bound (tests/test_peak_memory.py checks it under tracemalloc): the
    probe weights; the zero input's forward pass with every output kept (the baseline, kept
    to the end); the hit matrices, per spatial axis and layer a (probes x outputs along the
    axis) array of booleans, kept for every layer, and each axis's again while its parts are
    joined; one batch of probes through the forward pass (runner.forward_peak) with the
    comparison masks of a layer's output, the batch before it, and a held gate's copy.

    Time: one forward pass per batch of probes, at this machine's rates for FLOPs, compared
    values and layers, and the judging of every output position of every layer.
    """
    shape = network.input_shape
    layout = network.layout
    rank = len(shape) - 1
    _, spatial = layout.split(shape)
    weights = weight_bytes(summary, 8)
    baseline_peak = forward_peak(summary, network, 1, 8, keep=True).bytes
    baseline = nbytes(shape, 1, 8) + sum(nbytes(s, 1, 8) for row in summary.layers for s in outputs(row.output_shape))
    widest = max((math.prod(s) for row in summary.layers for s in outputs(row.output_shape)), default=0)
    per_axis = []  # bytes of hit matrices along each axis
    for axis, n in enumerate(spatial):
        along = [layout.split(out)[1][axis] if len(out) == rank + 1 else 1 for row in summary.layers for out in outputs(row.output_shape)]
        per_axis.append(n * sum(along))
    # a gate held for a merge (squeeze-excitation) is copied to the batch while the merge runs
    shapes = {row.name: row.output_shape for row in summary.layers}
    gates = [shapes[row.receptive_field.context] for row in summary.layers
             if row.receptive_field and row.receptive_field.context in row.inputs and row.receptive_field.context in shapes]
    widest_gate = max((math.prod(s) for s in gates), default=0)
    busiest, before = 0, 0
    for axis, n in enumerate(spatial):
        batch = min(PROBES_PER_BATCH, n)
        probes = nbytes(shape, batch, 8)  # the next batch is made while the last is held
        probing_peak = (forward_peak(summary, network, batch, 8, keep=False, parts=False).bytes + probes + 2 * batch * widest
                        + 8 * batch * widest_gate)
        # then the axis's parts are joined, the last batch of probes still held
        busiest = max(busiest, before + per_axis[axis] + max(probing_peak, per_axis[axis] + probes))
        before += per_axis[axis]
    passes = sum(-(-n // PROBES_PER_BATCH) for n in spatial)
    # the field tracker's and the probing network's records per layer; each pass's part of
    # the hit matrices, an array object per layer
    bookkeeping = (4 * RECORD_BYTES + passes * PART_BYTES) * len(summary.layers) + SCRATCH_BYTES
    memory = weights + max(baseline_peak, baseline + busiest) + bookkeeping
    flops = sum(row.flops for row in summary.layers) / summary.batch  # a sample's
    values = sum(math.prod(s) for row in summary.layers for s in outputs(row.output_shape))
    per_pass = PROBES_PER_BATCH * (flops / FLOPS_PER_SECOND + values / VALUES_PER_SECOND) + len(summary.layers) * SECONDS_PER_LAYER
    judging = SECONDS_PER_POSITION * sum(per_axis[axis] // n for axis, n in enumerate(spatial))
    return Cost(memory, passes * per_pass + judging, sum(spatial), passes, sum(per_axis), per_pass)


def outputs(output_shape) -> tuple:
    """Every output shape of a layer (several for split and chunk)."""
    return output_shape if output_shape and isinstance(output_shape[0], tuple) else (output_shape,)


def check_cost(network: Network, summary: Summary) -> None:
    """Refuse a verification that would need more than half this machine's memory, or take
    more than MAX_SECONDS."""
    cost = estimate(network, summary)
    probes = f"{cost.probes:,} probes (one per input coordinate along each axis) in {cost.passes:,} forward passes of {PROBES_PER_BATCH}"
    if cost.bytes > machine_memory() // 2:
        raise CnnError(
            f"verifying needs about {human_bytes(cost.bytes)} at its peak, more than half this machine's memory: "
            f"{probes}, every layer's output for the zero input kept, and {human_bytes(cost.hits)} of hit matrices "
            "(probes x outputs along each axis, for every layer); allowed: a smaller --input"
        )
    if cost.seconds > MAX_SECONDS:
        raise CnnError(
            f"verifying would take about {cost.seconds:,.0f} s, more than the limit of {MAX_SECONDS} s: {probes}, "
            f"about {cost.pass_seconds:,.1f} s each; allowed: a smaller --input"
        )


def judge(state, per_axis: list[np.ndarray], spatial, bounds) -> tuple[tuple[int | None, ...] | None, bool] | None:
    """The formula's field against the measured one, output position by output position.

    The formula (Araujo et al.) is the field in the network without borders. Near a
    border the real dependency can be smaller: an intermediate layer's padding holds zeros,
    not the inputs its extrapolated field would cover, and rows a floor division leaves
    over are never read. So: everywhere the measured field lies within the formula's
    (clipped to the input); at interior positions (the field strictly inside `bounds`, so no
    padding or leftover can be involved) their ends are equal. The measured
    size is the largest interior field (None when the input is too small to have one).
    None is returned where the formula defines no field.
    """
    if state == UNDEFINED:
        return None
    if state in (GLOBAL, FLATTEN) or any(hit.ndim == 1 for hit in per_axis):
        return None, state in (GLOBAL, FLATTEN) and all(hit.all() for hit in per_axis)
    if not isinstance(state, tuple):
        return None
    sizes, agrees = [], True
    for span, hit, n, (left, right) in zip(state, per_axis, spatial, bounds):
        interior = []
        for o in range(hit.shape[1]):
            rows = np.flatnonzero(hit[:, o])
            first, last = span.first.at(o), span.last.at(o)
            if first is None or max(first, 0) > min(last, n - 1):
                agrees &= rows.size == 0
                continue
            if rows.size:
                agrees &= bool(rows[0] >= max(first, 0) and rows[-1] <= min(last, n - 1))
            if first > left and last < right:
                agrees &= bool(rows.size and rows[0] == first and rows[-1] == last)
                interior.append(int(last - first + 1))
        sizes.append(max(interior) if interior else None)
    return tuple(sizes), bool(agrees)
