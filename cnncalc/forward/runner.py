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
from typing import Callable

import numpy as np

from ..analysis.summary import Summary
from ..errors import CnnError, Location, format_shape
from ..graph import INPUT, Network
from ..layers.kernels import TILE_BYTES
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


def execute(network: Network, params: dict, x: np.ndarray, keep: bool = False, on_layer: Callable | None = None,
            expected: dict | None = None, folded: frozenset = frozenset()):
    """Run every node; returns (final output, {name: output} if keep, per-layer seconds and shapes).

    With `expected` shapes (batch included) it stops at the first layer whose real output
    differs: nothing after it can be trusted, and may not even run. `folded` BatchNorm
    layers (see fold_batchnorms) pass their input through.
    """
    uses = count_uses(network)
    values = {INPUT: x}
    kept, timings = {}, []
    last = network.nodes[-1].name
    for node in network.nodes:
        inputs = [values[name] for name in node.inputs]
        start = time.perf_counter()
        if node.name in folded:  # its scale and shift already live in the conv before it
            out = inputs[0]
        else:
            # a tensor nobody reads after this layer may be overwritten by it (ReLU, BN, add),
            # unless its memory is also another live value's or the input's: dropout and
            # identity return their input, reshape and flatten a view of it
            owned = not keep and node.inputs[0] != INPUT and uses[node.inputs[0]] == 1 and not shared(
                inputs[0], (value for name, value in values.items() if name != node.inputs[0]), x
            )
            out = np.asarray(node.layer.forward(inputs, params.get(node.name, {}), network.layout, owned))
        timings.append((node, out.shape, time.perf_counter() - start))
        values[node.name] = out
        if keep:
            kept[node.name] = out
        for name in node.inputs:
            uses[name] -= 1
            if uses[name] == 0 and name != last:
                del values[name]
        if on_layer:
            on_layer(node, out)
        if expected is not None and out.shape != expected[node.name]:
            return out, kept, timings
    return values[last], kept, timings


def shared(array, others, protected) -> bool:
    """Does `array` share memory with the protected input or any of the other arrays?"""
    return np.may_share_memory(array, protected) or any(np.may_share_memory(array, other) for other in others)


def count_uses(network: Network) -> dict[str, int]:
    uses: dict[str, int] = {}
    for node in network.nodes:
        for name in node.inputs:
            uses[name] = uses.get(name, 0) + 1
    return uses


def fold_batchnorms(network: Network, params: dict) -> frozenset[str]:
    """Layers that are a per-channel affine map at inference (BatchNorm with running
    statistics) folded into the layer before them when only they read it and it can absorb
    the map (a convolution: w' = w * scale, b' = b * scale + shift; one pass over memory
    saved). Returns the folded layers, which then pass their input through."""
    by_name = {node.name: node for node in network.nodes}
    uses = count_uses(network)
    folded = set()
    for node in network.nodes:
        source = by_name.get(node.inputs[0])
        if source is None or uses.get(source.name) != 1:
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
    try:
        dims = np.shape(data)
    except ValueError:  # ragged lists
        return default
    rank = len(network.input_shape)
    return dims[0] if len(dims) == rank + 1 else 1 if len(dims) == rank else default


def make_input(network: Network, batch: int, data, dtype, rng, where: Location | None) -> np.ndarray:
    """The input batch: given data (with or without the batch axis) or seeded noise."""
    shape = network.input_shape
    if data is None:
        return rng.standard_normal((batch, *shape)).astype(dtype)
    try:
        array = convert(np.asarray(data, dtype=np.float64), dtype, "the input data", where)
    except (TypeError, ValueError):
        raise CnnError("the input data must be a (nested) list of numbers", where) from None
    if array.shape == tuple(shape):
        array = array[None]
    if array.shape[1:] != tuple(shape):
        raise CnnError(
            f"the input data has shape {format_shape(array.shape)} but the network takes {format_shape(shape)} "
            f"per sample (with or without a batch axis in front)",
            where,
        )
    return array


def estimate_peak(summary: Summary, network: Network, batch: int, itemsize: int, keep: bool) -> int:
    """Bytes at the busiest moment: live activations, the layer's working copies, weights."""
    sizes = {INPUT: math.prod(network.input_shape) * batch * itemsize}
    uses: dict[str, int] = {}
    for node in network.nodes:
        for name in node.inputs:
            uses[name] = uses.get(name, 0) + 1
    live = sizes[INPUT]
    peak = live
    weights = (summary.totals.params + summary.totals.running_stats) * itemsize
    for node, row in zip(network.nodes, summary.layers):
        out = math.prod(row.output_shape) * batch * itemsize
        sizes[node.name] = out
        biggest_input = max(sizes[name] for name in node.inputs)
        # the output, a padded copy of the input and a tile of gathered windows while it runs
        peak = max(peak, live + out + biggest_input + min(TILE_BYTES, out * 9))
        live += out
        for name in node.inputs:
            uses[name] -= 1
            if uses[name] == 0 and not keep:
                live -= sizes[name]
    return peak + weights


def check_memory(summary: Summary, network: Network, batch: int, dtype: str, keep: bool, limit: int | None) -> None:
    """Refuse a run whose estimated peak is above `limit` bytes (default: half the machine)."""
    from ..units import human_bytes

    limit = machine_memory() // 2 if limit is None else limit
    peak = estimate_peak(summary, network, batch, np.dtype(DTYPES[dtype]).itemsize, keep)
    if peak > limit:
        raise CnnError(
            f"running this network needs about {human_bytes(peak)} at its peak, more than the limit of "
            f"{human_bytes(limit)}; allowed: a smaller --input or --batch, or a higher --max-memory"
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
    batch = x.shape[0]
    expected = {row.name: (batch, *row.output_shape) for row in summary.layers}
    # Preparation, like loading the weights: not part of the timed forward pass.
    folded = frozenset() if keep else fold_batchnorms(network, params)
    start = time.perf_counter()
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        output, kept, timings = execute(network, params, x, keep, on_layer, expected, folded)
    total = time.perf_counter() - start
    layers = tuple(
        LayerRun(node.name, node.layer.type_name, (batch, *row.output_shape), tuple(shape), seconds)
        for (node, shape, seconds), row in zip(timings, summary.layers)
    )
    warnings = [f"unused weights in the file: {', '.join(unused)}"] if unused else []
    if len(timings) < len(network.nodes):
        warnings.append(f"stopped after '{timings[-1][0].name}': its output does not have the computed shape")
    warnings = tuple(warnings)
    return RunResult(layers, total, tuple(random_layers), output, kept, warnings)
