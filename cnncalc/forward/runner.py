"""`cnncalc run`: the network executed in NumPy, layer by layer, to prove the shapes.

Weights come from a .npz file keyed LAYER.weight, LAYER.bias, LAYER.running_mean,
LAYER.running_var in PyTorch's layouts (a state_dict saved with numpy.savez loads as it
is), from the YAML file itself, or from a seeded generator; the input from a .npy file,
the YAML `data:`, or the same generator. Tensors are freed after their last use, and the
peak memory is estimated before anything runs.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..analysis.summary import Summary
from ..errors import CnnError, CnnWarning, Location, WarningKind, format_shape
from ..graph import Network
from ..layers import kernels as numeric
from ..layers.base import Layer, Shape, chained, epilogue_workspace, nbytes
from .arrays import convert

DTYPES = {"float32": np.float32, "float64": np.float64}
IGNORED_KEYS = ("num_batches_tracked",)  # PyTorch state_dict buffers without a role here


@dataclass(frozen=True)
class LayerRun:
    name: str
    type: str
    expected_shape: tuple[int, ...]  # with the batch
    shape: tuple[int, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.expected_shape == self.shape


@dataclass(frozen=True)
class RunResult:
    layers: tuple[LayerRun, ...]
    forward_seconds: float
    random_weights: tuple[str, ...]
    output: np.ndarray
    outputs: dict = field(default_factory=dict)  # every layer's output, when asked to keep them
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(layer.ok for layer in self.layers)


def execute(network: Network, params: dict, x, keep: bool = False, on_layer: Callable | None = None,
            expected: dict | None = None, folded: frozenset = frozenset(), held: Mapping | None = None,
            epilogues: Mapping | None = None):
    """Run every node; returns (the output, or a tuple of the outputs when there are
    several; {value: array} if keep; per-layer seconds and shapes).

    `x` is the input array, or a mapping of input names to arrays. A layer with several
    outputs gives the values NAME.0, NAME.1, ...; a layer that shares another's weights
    (share:) runs with them. With `expected` shapes (batch included) it stops at the first
    layer whose real output differs: nothing after it can be trusted, and may not even run.
    `folded` layers (BatchNorms folded by fold_batchnorms, activations fused by
    fuse_epilogues) pass their input through; `epilogues` ({layer: function}) are applied
    by those layers to their output as they make it (Layer.forward_fused). `held`
    ({layer: {value: array of batch 1}}) makes a layer read a fixed array in place of a value
    (rf --verify holds squeeze-excitation gates at their values for the zero input).

    A batch of several samples, worth the threads, runs as parts (part_sizes): every part
    the whole network on its samples, one per thread, BLAS on one thread; unless a layer
    mixes samples (mixes_samples: a BatchNorm without running statistics, found in
    review), which keeps the batch whole. Measured at batch 8 against one pass whose layers
    share the threads, which hands work over at every layer and runs its element-wise work
    beside BLAS's threads, spinning after each product: MobileNetV2 0.69 of the time,
    EfficientNet-B0 0.76, ResNet-50 0.86, VGG16 0.97, U-Net 0.69. A layer's seconds are
    then the longest of its parts', `on_layer` hears the first part, and its shapes are the
    whole batch's.
    """
    with numeric.forward_threads():
        sizes = part_sizes(batch_of_input(x), keep or held is not None or mixes_samples(network))
        if len(sizes) < 2 or not numeric.worth_threads(input_bytes(x) * len(network.nodes)):
            return run_nodes(network, params, x, keep, on_layer, expected, folded, held, epilogues)
        return run_parts(network, params, x, sizes, on_layer, expected, folded, epilogues)


def part_sizes(batch: int, whole: bool = False) -> list[int]:
    """The samples of each part execute may run the batch as: min(THREADS, batch) parts
    as equal as can be; one part (the batch) with one thread or one sample, or `whole`
    (every value kept, or values held)."""
    count = 1 if whole else min(numeric.THREADS, batch)
    return [batch * (i + 1) // count - batch * i // count for i in range(count)] if count > 1 else [batch]


def mixes_samples(network: Network) -> bool:
    """Does some layer's output for a sample depend on the batch's other samples
    (Layer.mixes_samples: a BatchNorm without running statistics)? Its batch stays whole."""
    return any(node.layer.mixes_samples() for node in network.nodes)


def batch_of_input(x) -> int:
    return len(next(iter(x.values())) if isinstance(x, dict) else x)


def input_bytes(x) -> int:
    return sum(a.nbytes for a in x.values()) if isinstance(x, dict) else x.nbytes


def run_parts(network: Network, params: dict, x, sizes: list[int], on_layer, expected, folded, epilogues):
    """run_nodes on each part of the batch on the kernels' threads, BLAS on one thread
    (kernels.own_threads); the outputs joined along the batch, each layer's shapes the
    whole batch's and its seconds the longest part's. A part that fails stops the others
    at their next layer."""
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    results: list = [None] * len(sizes)
    stop: list = []  # parallel's failures as they happen (a part's, or the caller's Ctrl-C)

    def run_part(index: int) -> None:
        part = slice(bounds[index], bounds[index + 1])
        feeds = {name: value[part] for name, value in x.items()} if isinstance(x, dict) else x[part]
        shapes = {name: rebatched(shape, sizes[index]) for name, shape in expected.items()} if expected is not None else None

        def heard(node, out):
            if stop:
                raise PartStopped
            if index == 0 and on_layer is not None:
                on_layer(node, out)

        try:
            results[index] = run_nodes(network, params, feeds, False, heard, shapes, folded, None, epilogues)
        except PartStopped:
            pass

    numeric.own_threads()
    numeric.parallel(run_part, range(len(sizes)), None, failures=stop)
    outputs = [out for out, _, _ in results]
    timings = [t for _, _, t in results]
    count = min(map(len, timings))
    joined = []
    for layer in zip(*(t[:count] for t in timings)):
        node, shape, _ = layer[0]
        joined.append((node, rebatched(shape, bounds[-1]), max(seconds for _, _, seconds in layer)))
    return join(outputs), {}, joined


class PartStopped(Exception):
    """Another part of the batch failed: this one stops at its next layer."""


def rebatched(shape, batch: int):
    """A shape (or one per output) with its first axis, the batch, set to `batch`: batched
    of the per-sample shape."""
    several = bool(shape) and isinstance(shape[0], tuple)
    return batched(tuple(s[1:] for s in shape) if several else shape[1:], batch)


def join(outputs: list):
    """The parts' outputs (each an array or a tuple of them) joined along the batch; where
    their shapes beyond it differ (parts that stopped at different layers), the first's."""
    first = outputs[0]
    if isinstance(first, tuple):
        return tuple(join([out[i] for out in outputs]) for i in range(len(first)))
    arrays = [np.asarray(out) for out in outputs]
    if any(a.shape[1:] != arrays[0].shape[1:] for a in arrays):
        return first
    return np.concatenate(arrays)


def run_nodes(network: Network, params: dict, x, keep: bool, on_layer, expected, folded, held, epilogues):
    """execute's pass (kernels.forward_threads around it)."""
    feeds = dict(x) if isinstance(x, dict) else {next(iter(network.inputs)): x}
    uses = count_uses(network)
    values = dict(feeds)
    kept, timings = {}, []
    returned = set(network.outputs)
    for node in network.nodes:
        inputs = [values[name] for name in node.inputs]
        if held and node.name in held:
            fixed = held[node.name]
            inputs = [np.repeat(fixed[name], len(value), axis=0) if name in fixed else value for name, value in zip(node.inputs, inputs)]
        start = time.perf_counter()
        if node.name in folded:  # its scale and shift already live in the conv before it
            out = inputs[0]
        else:
            # a tensor nobody reads after this layer may be overwritten by it (ReLU, BN, add),
            # unless its memory is also another live value's or an input's: dropout and
            # identity return their input, reshape and flatten a view of it
            first = node.inputs[0]
            owned = not keep and first not in feeds and uses[first] == 1 and first not in returned and not shared(
                inputs[0], (value for name, value in values.items() if name != first), feeds.values()
            )
            weights = params.get(node.share or node.name, {})
            if epilogues and node.name in epilogues:
                out = node.layer.forward_fused(inputs, weights, network.layout, epilogues[node.name], owned)
            else:
                out = node.layer.forward(inputs, weights, network.layout, owned)
        outs = {f"{node.name}.{i}": np.asarray(o) for i, o in enumerate(out)} if isinstance(out, tuple) else {node.name: np.asarray(out)}
        shape = tuple(o.shape for o in outs.values()) if isinstance(out, tuple) else outs[node.name].shape
        timings.append((node, shape, time.perf_counter() - start))
        values.update(outs)
        if keep:
            kept.update(outs)
        for name in node.inputs:
            uses[name] -= 1
            if uses[name] == 0 and name not in returned:
                del values[name]
        if on_layer:
            on_layer(node, out)
        if expected is not None and shape != expected[node.name]:
            return out, kept, timings
    results = tuple(values[name] for name in network.outputs)
    return (results[0] if len(results) == 1 else results), kept, timings


def batched(shape, batch: int):
    """(batch, *shape), or one such per output for a layer with several."""
    if shape and isinstance(shape[0], tuple):
        return tuple((batch, *s) for s in shape)
    return (batch, *shape)


def shared(array, others, protected) -> bool:
    """Does `array` share memory with a protected input or any of the other arrays?"""
    return any(np.may_share_memory(array, other) for other in (*protected, *others))


def count_uses(network: Network) -> dict[str, int]:
    uses: dict[str, int] = {}
    for node in network.nodes:
        for name in node.inputs:
            uses[name] = uses.get(name, 0) + 1
    return uses


def fuse_epilogues(network: Network, folded: frozenset = frozenset()) -> tuple[dict, frozenset[str]]:
    """Element-wise layers (Layer.epilogue: an activation) applied by the layer that makes
    their input as it writes each part of it (Layer.takes_epilogue: a convolution, an add), while
    that part is still in the cache, instead of in a pass of their own over memory. Only
    where nothing else reads the value between them (through folded layers, which pass it
    on) and it is not an output. Returns ({maker: epilogue}, the fused layers), which then
    pass their input through."""
    fusions = epilogue_fusions(network, folded)
    epilogues = {maker: chained(*(node.layer.epilogue() for node in nodes)) for maker, nodes in fusions.items()}
    return epilogues, frozenset(node.name for nodes in fusions.values() for node in nodes)


def epilogue_fusions(network: Network, folded: frozenset) -> dict[str, list]:
    """{maker: the element-wise nodes its writes apply, in order} (see fuse_epilogues)."""
    by_name = {node.name: node for node in network.nodes}
    uses = count_uses(network)
    returned = set(network.outputs)
    fusions: dict[str, list] = {}
    fused: set[str] = set()
    for node in network.nodes:
        if node.name in folded or len(node.inputs) != 1 or node.share or node.layer.epilogue() is None:
            continue
        source = by_name.get(node.inputs[0])
        chain_ok = True
        while source is not None and (source.name in folded or source.name in fused):
            if uses.get(source.name) != 1 or source.name in returned:
                chain_ok = False
                break
            source = by_name.get(source.inputs[0])
        if not chain_ok or source is None or not source.layer.takes_epilogue:
            continue
        if uses.get(source.name) != 1 or source.name in returned:
            continue
        fusions.setdefault(source.name, []).append(node)
        fused.add(node.name)
    return fusions


def fold_batchnorms(network: Network, params: dict) -> frozenset[str]:
    """Layers that are a per-channel affine map at inference (BatchNorm with running
    statistics) folded into the layer before them when only they read it and it can absorb
    the map (a convolution: w' = w * scale, b' = b * scale + shift; one pass over memory
    saved). Returns the folded layers, which then pass their input through."""
    by_name = {node.name: node for node in network.nodes}
    uses = count_uses(network)
    applied_twice = {node.share for node in network.nodes if node.share}  # their weights serve others too
    folded = set()
    for node in network.nodes:
        source = by_name.get(node.inputs[0])
        if source is None or uses.get(source.name) != 1 or source.share or source.name in applied_twice:
            continue
        affine = node.layer.inference_affine(params.get(node.name, {}), network.layout)
        if affine is None:
            continue
        absorbed = source.layer.absorb_affine(params[source.name], *affine, network.layout)
        if absorbed is not None:
            params[source.name] = absorbed
            folded.add(node.name)
    return frozenset(folded)


def prepare_weights(summary: Summary, network: Network, given: dict, dtype, rng) -> tuple[dict, list[str], list[str]]:
    """Every layer's tensors: given ones checked for shape, missing ones drawn at random."""
    params: dict[str, dict[str, np.ndarray]] = {}
    random_layers, used = [], set()
    inline = {node.name: node.tensors for node in network.nodes if node.tensors}
    layers = {node.name: node.layer for node in network.nodes}
    for row in summary.layers:
        tensors = {}
        for leaf, shape in (*row.weights, *row.buffers):
            key = f"{row.name}.{leaf}"
            source = inline.get(row.name, {}).get(leaf)
            value = source.value if source is not None else given.get(key)
            if value is None:
                tensors[leaf] = layers[row.name].role(leaf).initial(shape, rng).astype(dtype, copy=False)
                if row.name not in random_layers:
                    random_layers.append(row.name)
                continue
            where = source.location if source is not None else None
            try:
                inline_values = np.asarray(value, dtype=np.float64) if source is not None else None
                array = convert(inline_values, dtype, f"weight '{key}'", where) if source is not None else np.asarray(value, dtype=dtype)
            except (TypeError, ValueError):
                raise CnnError(f"weight '{key}' must be a (nested) list of numbers in PyTorch's layout {format_shape(shape)}", where) from None
            if array.shape != tuple(shape):
                raise CnnError(
                    f"weight '{key}' has shape {format_shape(array.shape)} but layer '{row.name}' ({row.type}) "
                    f"needs {format_shape(shape)} (PyTorch's layout)",
                    where,
                )
            tensors[leaf] = array
            used.add(key)
        params[row.name] = tensors
    unused = sorted(k for k in given if k not in used and not k.endswith(IGNORED_KEYS))
    return params, random_layers, unused


def load_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of a weights file, each checked before it is allocated (forward.arrays)."""
    from .arrays import load_weights

    return load_weights(path)


def load_input(path: str) -> np.ndarray:
    """The input array of a .npy file, checked before it is allocated (forward.arrays)."""
    from .arrays import load_data

    return load_data(path)


def batch_of(network: Network, data, default: int) -> int:
    """The batch the input will have: the data's first axis when it carries one, 1 for a
    single sample, else `default` (and for data of the wrong shape, which make_input refuses)."""
    if data is None:
        return default
    name, shape = next(iter(network.inputs.items()))
    if isinstance(data, dict):
        data = data.get(name)
        if data is None:
            return default
    try:
        dims = np.shape(data)
    except ValueError:  # ragged lists
        return default
    rank = len(shape)
    return dims[0] if len(dims) == rank + 1 else 1 if len(dims) == rank else default


def make_input(network: Network, batch: int, data, dtype, rng, where: Location | None):
    """The input batch: given data (with or without the batch axis) or seeded noise; for a
    network of several inputs, a mapping of input names to arrays (data keyed alike)."""
    if len(network.inputs) > 1 or isinstance(data, dict):
        if data is not None and (not isinstance(data, dict) or set(data) != set(network.inputs)):
            given = ", ".join(sorted(data)) if isinstance(data, dict) else "one array"
            raise CnnError(
                f"the input data must hold one array per input, keyed {', '.join(network.inputs)}; received {given}",
                where,
            )
        feeds = {
            name: one_input(shape, batch, None if data is None else data[name], dtype, rng, where, f"the input '{name}'",
                            index_range(network, name))
            for name, shape in network.inputs.items()
        }
        batches = {name: array.shape[0] for name, array in feeds.items()}
        if len(set(batches.values())) > 1:
            sizes = ", ".join(f"{name} {size}" for name, size in batches.items())
            raise CnnError(f"the inputs hold different batch sizes ({sizes}); allowed: one batch size for every input", where)
        return feeds
    name = next(iter(network.inputs))
    return one_input(network.input_shape, batch, data, dtype, rng, where, "the input data", index_range(network, name))


def index_range(network: Network, name: str) -> tuple[int, int] | None:
    """The integers an input must hold when a layer reading it takes indices (an embedding):
    the narrowest range every such reader accepts."""
    ranges = [r for node in network.nodes if name in node.inputs and (r := node.layer.index_range()) is not None]
    return (max(low for low, _ in ranges), min(high for _, high in ranges)) if ranges else None


def one_input(shape, batch: int, data, dtype, rng, where: Location | None, what: str, indices=None) -> np.ndarray:
    if data is None:
        if indices is not None:  # seeded indices, not noise
            return rng.integers(indices[0], indices[1], size=(batch, *shape)).astype(dtype)
        return rng.standard_normal((batch, *shape)).astype(dtype)
    try:
        array = convert(np.asarray(data, dtype=np.float64), dtype, what, where)
    except (TypeError, ValueError):
        raise CnnError(f"{what} must be a (nested) list of numbers", where) from None
    if array.shape == tuple(shape):
        array = array[None]
    if array.shape[1:] != tuple(shape):
        raise CnnError(
            f"{what} has shape {format_shape(array.shape)} but the network takes {format_shape(shape)} "
            f"per sample (with or without a batch axis in front)",
            where,
        )
    return array


# Besides the arrays each layer declares: NumPy's ufunc buffers (8,192 values of up to 16
# bytes for each of three operands: 384 KiB), index tables and the Python objects of the
# running layer; per layer run its record (timings, shapes); per weight tensor its array
# object and its entry in the layer's mapping (measured: 250).
SCRATCH_BYTES = 512 * 2**10
RECORD_BYTES = 1024
TENSOR_BYTES = 512


@dataclass(frozen=True)
class Peak:
    """The busiest moment of a run: its bytes, and the layer running then (None: before
    the forward pass, while the weights and the input are made)."""

    bytes: int
    layer: str | None


def forward_peak(summary: Summary, network: Network, batch: int, itemsize: int, keep: bool, parts: bool = True) -> Peak:
    """Bytes `execute` holds at its busiest, weights aside: one pass's (pass_peak), or, where
    it may run the batch as parts on several threads (part_sizes; `parts` False: the caller
    holds values, which keeps the batch whole), the larger of that and the parts' at their
    busiest at once, plus the output they are joined into and NumPy's buffers on each
    thread besides the first (SCRATCH_BYTES)."""
    whole = pass_peak(summary, network, batch, itemsize, keep)
    sizes = part_sizes(batch, keep or not parts or mixes_samples(network))
    if len(sizes) < 2:
        return whole
    peaks = [pass_peak(summary, network, size, itemsize, keep) for size in sizes]
    values = {name: shape for row in summary.layers for name, shape in value_shapes(row.name, row.output_shape).items()}
    outputs = sum(nbytes(values[name], batch, itemsize) for name in network.outputs if name in values)
    split = sum(peak.bytes for peak in peaks) + outputs + (len(sizes) - 1) * SCRATCH_BYTES
    return whole if whole.bytes >= split else Peak(split, peaks[0].layer)


def pass_peak(summary: Summary, network: Network, batch: int, itemsize: int, keep: bool) -> Peak:
    """Bytes one pass of run_nodes holds at its busiest, weights aside: the inputs (their
    caller keeps them), the values still to be read or returned (every one with `keep`),
    and the running layer's outputs and workspace (Layer.workspace), freed in its order.

    Memory is followed as storages: each output has its own, and an output that may share
    its first input's memory (Layer.shares_input: a view, the input itself, a result
    computed in place) also keeps that input's storages alive for as long as it lives, so a
    crop keeps its whole input."""
    layout = network.layout
    # whatever could be folded (a type with an inference affine map, if its statistics are there)
    foldable = frozenset(node.name for node in network.nodes if type(node.layer).inference_affine is not Layer.inference_affine)
    fusions = epilogue_fusions(network, foldable)
    shapes: dict[str, Shape] = dict(network.inputs)
    storages = {name: (name,) for name in network.inputs}  # value -> the storages it keeps
    sizes = {name: nbytes(shape, batch, itemsize) for name, shape in network.inputs.items()}  # storage -> bytes
    holders = dict.fromkeys(sizes, 1)  # storage -> live values keeping it
    live = sum(sizes.values())
    peak = Peak(live, None)
    uses = count_uses(network)
    kept = set(network.outputs) | set(network.inputs)
    records = 0
    for node, row in zip(network.nodes, summary.layers):
        inputs = tuple(shapes[name] for name in node.inputs)
        outputs = value_shapes(node.name, row.output_shape)
        first = next(iter(outputs.values()))
        made = sum(nbytes(shape, batch, itemsize) for shape in outputs.values())
        work = node.layer.workspace(inputs, first, layout, batch, itemsize)
        if node.name in fusions:  # the activations after it applied as it writes (fuse_epilogues)
            work += epilogue_workspace([n.layer for n in fusions[node.name]], batch * math.prod(first), itemsize)
        records += RECORD_BYTES
        if live + made + work + records > peak.bytes:
            peak = Peak(live + made + work + records, node.name)
        shared = storages[node.inputs[0]] if node.layer.shares_input() else ()
        for name, shape in outputs.items():
            shapes[name], sizes[name] = shape, nbytes(shape, batch, itemsize)
            storages[name] = (name, *shared)
            for storage in storages[name]:
                holders[storage] = holders.get(storage, 0) + 1
                live += sizes[storage] if holders[storage] == 1 else 0
        for name in node.inputs:
            uses[name] -= 1
            if uses[name] == 0 and name not in kept and not keep:
                for storage in storages.pop(name):
                    holders[storage] -= 1
                    live -= sizes[storage] if holders[storage] == 0 else 0
    return peak


def value_shapes(name: str, output_shape) -> dict[str, Shape]:
    """The values a layer gives, by name: NAME, or NAME.0, NAME.1, ... for several."""
    if output_shape and isinstance(output_shape[0], tuple):
        return {f"{name}.{i}": shape for i, shape in enumerate(output_shape)}
    return {name: output_shape}


def estimate_peak(summary: Summary, network: Network, batch: int, itemsize: int, keep: bool) -> Peak:
    """Bytes `run` allocates at its busiest, an upper bound (tests/test_peak_memory.py
    checks it against tracemalloc for every layer type): the weights, plus the larger of
    their preparation (preparing_peak) and the forward pass (forward_peak), plus
    SCRATCH_BYTES."""
    weights = weight_bytes(summary, itemsize)
    prepare = preparing_peak(summary, network, batch, itemsize)
    forward = forward_peak(summary, network, batch, itemsize, keep)
    busiest = forward if forward.bytes > prepare else Peak(prepare, None)
    return Peak(weights + busiest.bytes + SCRATCH_BYTES, busiest.layer)


def weight_bytes(summary: Summary, itemsize: int) -> int:
    """Every weight and buffer of the network, with its array object (TENSOR_BYTES)."""
    shapes = [shape for row in summary.layers for _, shape in (*row.weights, *row.buffers)]
    return sum(math.prod(shape) * itemsize + TENSOR_BYTES for shape in shapes)


def preparing_peak(summary: Summary, network: Network, batch: int, itemsize: int) -> int:
    """Bytes besides the weights while `run` prepares, one array at a time: a tensor drawn
    (Role.workspace) or written in the file (read in float64, then converted and checked
    for overflow: 8 + 2 bytes a value besides it); each input drawn or read alike, the
    inputs before it kept; then, the inputs kept, a BatchNorm folded into the layer before
    it (that layer's only reader, with running statistics) copying that layer's tensors twice."""
    layers = {node.name: node for node in network.nodes}
    readers: dict[str, list[str]] = {}
    for node in network.nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node.name)
    statistics = {row.name for row in summary.layers if row.buffers}
    tensors = folding = 0
    for row in summary.layers:
        node = layers[row.name]
        only = readers.get(row.name, [])
        foldable = len(only) == 1 and only[0] in statistics
        for leaf, shape in (*row.weights, *row.buffers):
            elements = math.prod(shape)
            written = bool(node.tensors) and leaf in node.tensors
            tensors = max(tensors, elements * 10 if written else node.layer.role(leaf).workspace(elements, itemsize))
            if foldable:
                folding = max(folding, 2 * elements * itemsize)
    inputs = [batch * math.prod(shape) for shape in network.inputs.values()]
    made = sum(inputs) * itemsize
    return max(tensors, made + max(inputs) * (8 + 2), made + folding)


def check_memory(summary: Summary, network: Network, batch: int, dtype: str, keep: bool, limit: int | None) -> None:
    """Refuse a run whose estimated peak is above `limit` bytes (default: half the machine)."""
    from ..units import human_bytes

    limit = machine_memory() // 2 if limit is None else limit
    peak = estimate_peak(summary, network, batch, np.dtype(DTYPES[dtype]).itemsize, keep)
    if peak.bytes > limit:
        where = f"while '{peak.layer}' runs" if peak.layer is not None else "while the weights and the input are made"
        raise CnnError(
            f"running this network needs about {human_bytes(peak.bytes)} at its peak, more than the limit of "
            f"{human_bytes(limit)}, {where}; allowed: a smaller --input or --batch, or a higher --max-memory"
        )


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def save_npz(path: str, outputs: dict[str, np.ndarray]) -> None:
    """Every layer's output, written atomically, never over an input (forward.arrays)."""
    from .arrays import save_outputs

    save_outputs(path, outputs)


def run(network: Network, summary: Summary, *, batch: int, dtype: str, seed: int, weights: dict,
        data, data_location: Location | None, keep: bool, on_layer: Callable | None = None) -> RunResult:
    numpy_type = DTYPES[dtype]
    rng = np.random.default_rng(seed)
    params, random_layers, unused = prepare_weights(summary, network, weights, numpy_type, rng)
    x = make_input(network, batch, data, numpy_type, rng, data_location)
    batch = batch_of_input(x)
    expected = {row.name: batched(row.output_shape, batch) for row in summary.layers}
    # Preparation, like loading the weights: not part of the timed forward pass.
    folded = frozenset() if keep else fold_batchnorms(network, params)
    epilogues, fused = ({}, frozenset()) if keep else fuse_epilogues(network, folded)
    start = time.perf_counter()
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        output, kept, timings = execute(network, params, x, keep, on_layer, expected, folded | fused, epilogues=epilogues)
    total = time.perf_counter() - start
    layers = tuple(
        LayerRun(node.name, node.layer.type_name, batched(row.output_shape, batch), tuple(shape), seconds)
        for (node, shape, seconds), row in zip(timings, summary.layers)
    )
    warnings = [CnnWarning(WarningKind.UNUSED, f"unused weights in the file: {', '.join(unused)}")] if unused else []
    if len(timings) < len(network.nodes):
        warnings.append(CnnWarning(WarningKind.MISMATCH, f"stopped after '{timings[-1][0].name}': its output does not have the computed shape"))
    warnings = tuple(warnings)
    return RunResult(layers, total, tuple(random_layers), output, kept, warnings)
