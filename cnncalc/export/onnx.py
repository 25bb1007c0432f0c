"""A network as an ONNX model (`cnncalc export FILE --to onnx -o OUT.onnx`), with weights.

ONNX is a graph, not code: each layer adds its nodes to an `OnnxGraph` through its own
`onnx` method (cnncalc/layers), reading the values its inputs name; the builder keeps the
names (each layer's output value is the layer's name, its weights are LAYER.weight, ...,
its nodes /LAYER/OP), and writes the model with onnx.helper (the optional extra
cnncalc[onnx]; no PyTorch at run time). The weights are those `cnncalc run` uses: the
--weights file, the file's own, and the same seeded draws for the rest, so onnxruntime and
`cnncalc run --seed 0` give the same output. The batch axis is left free.

Any opset from 13 (the first with today's Softmax, Split and Squeeze) to the newest tested
(LATEST) can be asked for: a layer uses an operator where the opset has it (LayerNormalization
from 17, Gelu from 20, Pad's 'wrap' from 19) and the same function in older operators
below; the helpers here (reduce, pad, normalise) hide the operators whose inputs changed.
"""

from __future__ import annotations

from typing import Any

from ..errors import CnnError
from ..graph import Network
from ..layers import Layout, Shape

OPSET = 17  # the default: read by every onnxruntime since 1.13
OLDEST = 13
LATEST = 28  # the newest opset every layer's form was run at in onnxruntime (tests/test_onnx_export.py)


class OnnxGraph:
    """What a layer's `onnx` method builds with: nodes, constants and its own weights."""

    def __init__(self, layout: Layout, weights: dict[str, dict], opset: int = OPSET):
        self.layout = layout
        self.opset = opset
        self.weights = weights  # layer name -> tensor name -> array (float32)
        self.nodes: list = []
        self.initializers: dict[str, Any] = {}
        self.scope = ""
        self.owner = ""
        self.count = 0
        self.mine: set[str] = set()  # values produced by the current layer's nodes

    def begin(self, name: str, owner: str) -> None:
        self.scope, self.owner, self.count, self.mine = name, owner, 0, set()

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs):
        """Add a node; its output value name (or a list of them for outputs > 1)."""
        from onnx import helper

        self.count += 1
        stem = f"/{self.scope}/{op_type}" + (f"_{self.count}" if self.count > 1 else "")
        names = [f"{stem}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=stem, **attrs))
        self.mine.update(names)
        return names[0] if outputs == 1 else names

    def const(self, values, dtype: str = "int64") -> str:
        """A constant input (shapes, axes, scales) as an initializer."""
        import numpy as np

        self.count += 1
        name = f"/{self.scope}/const_{self.count}"
        self.initializers[name] = np.asarray(values, dtype=dtype)
        return name

    def weight(self, leaf: str, array=None) -> str:
        """The layer's tensor `leaf` (PyTorch's name) as an initializer named LAYER.leaf, or
        `array` in its place (a weight rearranged for ONNX) named LAYER.leaf too."""
        import numpy as np

        name = f"{self.owner}.{leaf}"
        if name not in self.initializers:
            value = self.weights[self.owner][leaf] if array is None else array
            self.initializers[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name

    def has(self, leaf: str) -> bool:
        """Whether the layer has the tensor `leaf` (a bias, running statistics)."""
        return leaf in self.weights.get(self.owner, {})

    def tensor(self, leaf: str):
        """The layer's tensor `leaf` as an array (to be rearranged before `weight`)."""
        return self.weights[self.owner][leaf]

    def first(self, x: str, rank: int, layout: Layout) -> str:
        """A batched value of `rank` axes (batch included) in channels-first order."""
        if not layout.channels_last or rank < 3:
            return x
        return self.op("Transpose", [x], perm=[0, rank - 1, *range(1, rank - 1)])

    def back(self, y: str, rank: int, layout: Layout) -> str:
        """The inverse of first: back to the file's layout."""
        if not layout.channels_last or rank < 3:
            return y
        return self.op("Transpose", [y], perm=[0, *range(2, rank), 1])

    def along_channels(self, values, rank: int, layout: Layout):
        """Per-channel values (C,) shaped to broadcast along the channel axis of a batched
        value of `rank` axes in `layout`: (C, 1, ...) channels first, (C,) channels last."""
        import numpy as np

        values = np.asarray(values, dtype=np.float32)
        if rank > 2 and not layout.channels_last and values.size > 1:
            return values.reshape(-1, *[1] * (rank - 2))
        return values

    def reduce(self, op_type: str, x: str, axes: list[int], keepdims: bool = True) -> str:
        """ReduceMean, ReduceMax ... over `axes`: an attribute up to opset 17, an input since 18."""
        if self.opset >= 18:
            return self.op(op_type, [x, self.const(list(axes))], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=list(axes), keepdims=int(keepdims))

    def slice(self, x: str, starts: list[int], ends: list[int], axes: list[int]) -> str:
        return self.op("Slice", [x, self.const(starts), self.const(ends), self.const(axes)])

    def normalise(self, x: str, axes: list[int], eps: float) -> str:
        """(x - mean) / sqrt(variance + eps), the statistics over `axes` (the biased
        variance, as PyTorch normalises)."""
        centred = self.op("Sub", [x, self.reduce("ReduceMean", x, axes)])
        variance = self.reduce("ReduceMean", self.op("Mul", [centred, centred]), axes)
        deviation = self.op("Sqrt", [self.op("Add", [variance, self.const(eps, "float32")])])
        return self.op("Div", [centred, deviation])

    def pad(self, x: str, pairs, mode: str, sizes, value: float = 0.0) -> str:
        """Pad the spatial axes (2, 3, ...) of a channels-first x by (before, after) pairs:
        'constant', 'reflect', 'replicate' (ONNX's edge) or 'circular' (the other end's
        values: Pad's 'wrap' from opset 19, slices and a concatenation before)."""
        if mode == "circular" and self.opset < 19:
            for axis, (n, (before, after)) in enumerate(zip(sizes, pairs), start=2):
                if before or after:
                    parts = ([self.slice(x, [n - before], [n], [axis])] if before else []) + [x]
                    parts += [self.slice(x, [0], [after], [axis])] if after else []
                    x = self.op("Concat", parts, axis=axis)
            return x
        onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        pads = self.const([0, 0, *(b for b, _ in pairs), 0, 0, *(a for _, a in pairs)])
        args = [x, pads] + ([self.const(float(value), "float32")] if mode == "constant" else [])
        return self.op("Pad", args, mode=onnx_mode)

    def rename(self, value: str, name: str) -> str:
        """Give a layer's output the layer's name (a node of its own, or an Identity)."""
        if value in self.mine:
            for node in self.nodes:
                for i, output in enumerate(node.output):
                    if output == value:
                        node.output[i] = name
                for i, source in enumerate(node.input):
                    if source == value:
                        node.input[i] = name
            return name
        self.op("Identity", [value])
        self.nodes[-1].output[0] = name
        return name


def onnx_module():
    try:
        import onnx
    except ImportError:
        raise CnnError("writing ONNX files needs the onnx package; install it with: pip install 'cnncalc[onnx]'") from None
    return onnx


def check_opset(opset: int) -> None:
    """An opset this export writes and the installed onnx package knows."""
    onnx = onnx_module()
    newest = min(LATEST, onnx.defs.onnx_opset_version())
    if not OLDEST <= opset <= newest:
        raise CnnError(f"--opset {opset} is not one cnncalc writes; allowed: {OLDEST} to {newest}"
                       + (f" (the installed onnx {onnx.__version__} knows up to {newest})" if newest < LATEST else ""))


def to_onnx(network: Network, weights: dict[str, dict], opset: int = OPSET):
    """The ModelProto of a network whose tensors are `weights` (layer -> tensor -> array),
    in the operators of `opset`."""
    onnx = onnx_module()
    from onnx import TensorProto, helper, numpy_helper

    check_opset(opset)
    graph = OnnxGraph(network.layout, weights, opset)
    values: dict[str, str] = {}
    shapes: dict[str, Shape] = {}
    inputs = []
    for name, shape in network.inputs.items():
        values[name], shapes[name] = name, shape
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape]))
    for node in network.nodes:
        layer = node.layer
        sources = [values[s] for s in node.inputs]
        in_shapes = tuple(shapes[s] for s in node.inputs)
        facts = layer.infer(in_shapes, network.layout)
        outs = facts.outputs or (facts.output_shape,)
        graph.begin(node.name, node.share or node.name)
        produced = layer.onnx(graph, sources, in_shapes, facts.output_shape, network.layout)
        produced = [produced] if isinstance(produced, str) else list(produced)
        if layer.output_count() == 1:
            values[node.name], shapes[node.name] = graph.rename(produced[0], node.name), outs[0]
        else:
            for i, (value, shape) in enumerate(zip(produced, outs)):
                key = f"{node.name}.{i}"
                values[key], shapes[key] = graph.rename(value, key), shape
    outputs = [helper.make_tensor_value_info(values[o], TensorProto.FLOAT, ["batch", *shapes[o]]) for o in network.outputs]
    initializers = [numpy_helper.from_array(array, name) for name, array in graph.initializers.items()]
    body = helper.make_graph(graph.nodes, network.name or "cnncalc", inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(body, opset_imports=opsets, producer_name="cnncalc")
    model.ir_version = helper.find_min_ir_version_for(opsets)  # the oldest IR that has the opset: the widest reach
    onnx.checker.check_model(model)
    return model


def export_onnx(network: Network, given: dict, path: str, protect=(), opset: int = OPSET) -> None:
    """Write the network as an ONNX model of `opset` to `path`, with the weights `cnncalc
    run` uses: `given` (a --weights file), the file's own, and seed 0's draws for the rest."""
    import numpy as np

    from ..analysis.summary import analyse
    from ..files import write_atomically
    from ..forward import arrays, runner

    check_opset(opset)  # before the weights are drawn
    summary = analyse(network, 1, "float32")
    if given:
        arrays.check_weight_keys(given, arrays.weight_keys(summary), "--weights")
    weights, _, _ = runner.prepare_weights(summary, network, given, np.float32, np.random.default_rng(0))
    model = to_onnx(network, weights, opset)
    data = model.SerializeToString()
    write_atomically(path, lambda stream: stream.write(data), protect)
