"""Layers of modern networks that fit no older family: a learnt per-channel scale
(ConvNeXt's layer scale), stochastic depth (the identity at inference) and an embedding
table (a text network's first layer, reading integer indices).
"""

from __future__ import annotations

from .attrs import Attr, Choice, Flag, Int, Number
from .lazy import np
from .code import ANY, CHANNELS_FIRST, FILE, KerasOp, TorchOp, call
from .shape import IdentityAtInference
from .base import PASS, REGISTRY, UNDEFINED, Facts, Grads, Keep, Layer, Layout, Role, Saved, Shape, channel_axis, nbytes, product


@REGISTRY.register("scale", "LayerScale", "layer_scale")
class Scale(Layer):
    """y = x * gamma (+ beta with bias), gamma and beta one value per channel: ConvNeXt's layer
    scale (torchvision's `layer_scale`, timm's and Keras's `gamma`). Elementwise: no MACs."""

    family = "elementwise"
    summary = "learnt per-channel multiplier, optionally a learnt shift (ConvNeXt's layer scale)"
    flops_rule = "1 multiply per element, 1 more with bias (an addition)"
    roles = {"gamma": Role.SCALE, "beta": Role.SHIFT}
    attributes = (
        Attr("bias", Flag(), False, ("use_bias", "center"), "also learn a shift per channel (beta)"),
        Attr("init", Number(), 1.0, ("init_values", "layer_scale", "layer_scale_init_value"), "gamma's initial value (export)"),
        Attr("in", Int(1), None, ("projection_dim", "channels"), "expected channels (Keras's projection_dim); inferred, checked if given"),
    )

    def channels(self, shape: Shape, layout: Layout) -> int:
        return layout.split(shape)[0] if len(shape) > 1 else shape[0]

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels = self.channels(shape, layout)
        self.check_in(channels)
        params = {"gamma": (channels,)}
        if self["bias"]:
            params["beta"] = (channels,)
        return Facts(shape, params, flops=product(shape) * len(params), field=PASS)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        shape = [1] * x.ndim
        shape[channel_axis(x, layout)] = -1
        y = x * params["gamma"].reshape(shape)
        if "beta" in params:
            y += params["beta"].reshape(shape)
        return y

    def inference_affine(self, tensors: dict, layout: Layout):
        gamma = tensors["gamma"]
        return gamma, tensors.get("beta", np.zeros_like(gamma))

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The product is the output; the shift is added in place."""
        return 0

    # x * gamma with float32 master weights: type promotion gives float32 under autocast
    autocast = "promote"

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """x * gamma keeps x for gamma's gradient (gamma itself is a weight); the shift keeps nothing."""
        return (Saved(Keep.INPUT),) if grads.weights else ()

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        channels = self.channels(shapes[0], layout)
        module = call("Scale", channels, self["init"] if self["init"] != 1.0 else None, bias=True if self["bias"] else None)
        return TorchOp(module, wants=CHANNELS_FIRST if len(shapes[0]) > 1 else ANY)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        axis = 1 if len(shapes[0]) > 1 and not layout.channels_last else None
        layer = call("ScaleLayer", self["init"] if self["init"] != 1.0 else None, bias=True if self["bias"] else None, axis=axis)
        return KerasOp((("", layer),))

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Mul by gamma (and Add beta), shaped to broadcast along the channels."""
        rank = len(shapes[0]) + 1
        y = graph.op("Mul", [inputs[0], graph.weight("gamma", graph.along_channels(graph.tensor("gamma"), rank, layout))])
        if graph.has("beta"):
            y = graph.op("Add", [y, graph.weight("beta", graph.along_channels(graph.tensor("beta"), rank, layout))])
        return y


@REGISTRY.register("stochastic_depth", "StochasticDepth", "drop_path", "DropPath")
class StochasticDepth(IdentityAtInference):
    """Drops a residual branch at random while training (torchvision.ops.StochasticDepth, timm's
    DropPath); the identity at inference, which is what cnncalc computes."""

    family = "regularisation"
    primary = "p"
    summary = "random dropping of whole samples in training; identity at inference"
    attributes = (
        Attr("p", Number(0, 1), 0.0, ("rate", "drop_prob", "drop_path_rate"), "probability of dropping"),
        Attr("mode", Choice("row", "batch"), "row", (), "'row': each sample apart; 'batch': the whole batch at once"),
    )

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """In training, x * keep keeps the scaled mask: one value per sample ('row') or one in
        all ('batch'); nothing when p = 0 (the input is returned)."""
        if self["p"] == 0:
            return ()
        return (Saved(Keep.NEW, 1, batched=self["mode"] == "row"),)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(call("StochasticDepth", self["p"], self["mode"] if self["mode"] != "row" else None))

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", call("StochasticDepthLayer", self["p"], self["mode"] if self["mode"] != "row" else None)),))


@REGISTRY.register("embedding", "Embedding")
class Embedding(Layer):
    """Looks each integer index up in a table of `num` rows of `dim` values: an input of shape
    S gives S + (dim,) (PyTorch's nn.Embedding, Keras's Embedding; weight (num, dim)). A lookup:
    no MACs and no FLOPs."""

    family = "dense"
    primary = "num"
    summary = "table lookup of integer indices: (L,) to (L, dim) (PyTorch Embedding, Keras Embedding)"
    roles = {"weight": Role.SCALE}
    attributes = (
        Attr("num", Int(1), None, ("num_embeddings", "input_dim", "vocab_size"), "rows of the table (indices 0 to num - 1)"),
        Attr("dim", Int(1), None, ("embedding_dim", "output_dim"), "values per row"),
        Attr("padding_idx", Int(0), None, (), "PyTorch: a row kept at zero in training (export)"),
    )

    def keras_tensors(self, arrays: list, facts: Facts) -> dict:
        """Keras's embeddings table is PyTorch's weight, (num, dim)."""
        return self.keras_arrays(list(arrays), ("weight",), facts)

    def check(self) -> None:
        for attr, example in (("num", "num: 10000"), ("dim", "dim: 128")):
            if self[attr] is None:
                raise self.fail(f"missing the required attribute '{attr}'; allowed: e.g. embedding: {{num: 10000, dim: 128}}")
        if self["padding_idx"] is not None and self["padding_idx"] >= self["num"]:
            raise self.fail(
                f"padding_idx={self['padding_idx']} is not a row of the table; allowed: 0 to {self['num'] - 1}", "padding_idx"
            )

    def index_range(self) -> tuple[int, int]:
        """Its input holds integers from 0 to num - 1 (cnncalc run draws these)."""
        return 0, self["num"]

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        out = (*shape, self["dim"])
        # channels_last: each position keeps its own place and gains `dim` channels.
        field = PASS if layout.channels_last else UNDEFINED
        return Facts(out, {"weight": (self["num"], self["dim"])}, field=field)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        indices = x.astype(np.int64)
        bad = (indices != x) | (indices < 0) | (indices >= self["num"])
        if bad.any():
            value = x[bad].flat[0]
            raise self.fail(
                f"its input must hold indices, integers from 0 to {self['num'] - 1}; received {value:g} "
                f"({self.received_input_text()}); allowed: a --data file of such integers"
            )
        return params["weight"][indices]

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The indices (8 bytes each) and three boolean masks checking them."""
        return batch * product(shapes[0]) * (8 + 3)

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """The weight's gradient needs the indices: the int64 copy the export makes of its input."""
        return (Saved(Keep.NEW, product(shapes[0]), "int64"),) if grads.weights else ()

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        module = call("nn.Embedding", self["num"], self["dim"], padding_idx=self["padding_idx"]).named("num_embeddings", "embedding_dim")
        return TorchOp(module, "{m}({x}.long())", FILE)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", call("layers.Embedding", self["num"], self["dim"])),))

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Gather of the table's rows by the input cast to int64 (the model's input stays
        float, as cnncalc run reads it; onnxruntime refuses an index outside the table)."""
        indices = graph.op("Cast", [inputs[0]], to=7)  # TensorProto.INT64
        return graph.op("Gather", [graph.weight("weight"), indices], axis=0)
