"""Keras's preprocessing layers inside a model: Rescaling and Normalization.

`rescaling` is y = x * scale + offset, each a number or one per channel (Keras's
`Rescaling(scale, offset=0.0)`). It is also how a constant is added to or multiplied with a
tensor, as Keras applications write `x + 3.0` and `x * (1.0 / 6.0)` (MobileNetV3's hard
sigmoid): `rescaling: {offset: 3}` and `rescaling: 0.16666666666666666`. A factor of 1 and
an offset of 0 are no operation: FLOPs count 1 per element for the multiply unless every
scale is 1, and 1 for the add unless every offset is 0.

`normalization` is Keras's `Normalization` at inference: per channel,
y = (x - mean) / max(sqrt(variance), 1e-7) (`invert`: y = mean + x * max(sqrt(variance),
1e-7)). Its statistics are non-trainable weights, `mean` (C,), `variance` (C,) and a
`count` () Keras keeps for `adapt()`: 2C + 1 values, counted as running statistics (so as
Keras's non-trainable params). Given as attributes (`mean: [...]`, `variance: [...]`),
they are constants, as Keras holds them then: no weights at all. FLOPs: 2 per element
(subtract, divide; the same with invert: multiply, add) and 2 per channel (square root,
maximum).
"""

from __future__ import annotations

from typing import Any

from .attrs import Attr, AttrError, Axis, Flag, Kind, Number
from .code import ANY, CHANNELS_FIRST, KerasOp, TorchOp, call
from .lazy import np
from .base import PASS, REGISTRY, Facts, Grads, Keep, Layer, Layout, Role, Saved, Shape, channel_axis, product

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), Normalization's floor on the deviation


class Values(Kind):
    """A number, or a list of numbers, one per channel."""

    describe = "a number or a list of numbers, one per channel"

    def convert(self, value: Any) -> float | tuple[float, ...]:
        item = Number(describe=self.describe)
        if isinstance(value, list):
            if not value:
                raise AttrError(f"expected {self.describe}")
            return tuple(item.convert(v) for v in value)
        return item.convert(value)


class PerChannel(Layer):
    """A layer whose values are numbers or one per channel."""

    family = "preprocessing"

    def channels(self, shape: Shape, layout: Layout) -> int:
        return layout.split(shape)[0]

    def check_count(self, attr: str, shape: Shape, layout: Layout) -> None:
        value = self[attr]
        channels = self.channels(shape, layout)
        if isinstance(value, tuple) and len(value) not in (1, channels):
            raise self.fail(
                f"{attr} has {len(value)} values but the input has {channels} channels (received "
                f"{self.received(shape)}); allowed: one number, or {channels}",
                attr,
            )

    @staticmethod
    def broadcast(value, x, layout: Layout):
        """A number or per-channel values, shaped to broadcast along x's channel axis, in x's type."""
        if not isinstance(value, tuple):
            return x.dtype.type(value)
        shape = [1] * x.ndim
        shape[channel_axis(x, layout)] = len(value)
        return np.asarray(value, dtype=x.dtype).reshape(shape)

    @staticmethod
    def torch_values(value, rank: int) -> str:
        """A number, or per-channel values as a tensor shaped for (N, C, *spatial)."""
        if not isinstance(value, tuple):
            return repr(value)
        trailing = ", 1" * (rank - 1)
        return f"torch.tensor({list(value)!r}, dtype={{x}}.dtype).view(1, -1{trailing})"

    @staticmethod
    def onnx_values(graph, value, rank: int, layout: Layout) -> str:
        """A number, or per-channel values broadcasting along the channels, as a constant."""
        if not isinstance(value, tuple):
            return graph.const(float(value), "float32")
        return graph.const(graph.along_channels(value, rank, layout), "float32")

    @staticmethod
    def keras_values(value, rank: int, layout: Layout):
        """A number, or per-channel values broadcasting against Keras's tensor (the last
        axis channels_last; (C, 1, ...) channels_first)."""
        if not isinstance(value, tuple):
            return value
        values: Any = list(value)
        if not layout.channels_last and rank > 1:
            for _ in range(rank - 1):
                values = nest(values)
        return values


def nest(values: list) -> list:
    """One more trailing axis of size 1: [a, b] -> [[a], [b]], [[a], [b]] -> [[[a]], [[b]]]."""
    return [nest(v) if isinstance(v, list) else [v] for v in values]


@REGISTRY.register("rescaling", "Rescaling")
class Rescaling(PerChannel):
    """y = x * scale + offset: Keras's Rescaling, and a constant added or multiplied."""

    primary = "scale"
    summary = "x * scale + offset, each a number or one per channel (Keras Rescaling; x + c, x * c)"
    flops_rule = "1 per element for the multiply unless scale is 1, + 1 for the add unless offset is 0"
    attributes = (
        Attr("scale", Values(), 1.0, (), "multiplier: a number or one per channel"),
        Attr("offset", Values(), 0.0, (), "added after scaling: a number or one per channel"),
    )

    def operations(self) -> tuple[bool, bool]:
        """(multiplies, adds): a factor of 1 and an offset of 0 are no operation."""
        scale, offset = self["scale"], self["offset"]
        scales = scale if isinstance(scale, tuple) else (scale,)
        offsets = offset if isinstance(offset, tuple) else (offset,)
        return any(s != 1 for s in scales), any(o != 0 for o in offsets)

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        for attr in ("scale", "offset"):
            self.check_count(attr, shape, layout)
        return Facts(shape, flops=sum(self.operations()) * product(shape), field=PASS)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        multiplies, adds = self.operations()
        y = x
        if multiplies:
            y = np.multiply(x, self.broadcast(self["scale"], x, layout), out=x if owned else None)
        if adds:
            y = np.add(y, self.broadcast(self["offset"], x, layout), out=y if y is not x or owned else None)
        return y

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The product is the output and the offset is added to it in place: nothing besides
        (a few per-channel values)."""
        return 0

    def shares_input(self) -> bool:
        """An input nothing else reads is scaled in place; with no operation, the input is the output."""
        return True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """x * c keeps c for x's gradient: nothing for a number, the per-channel tensor the
        export makes (a constant, not a weight); the add keeps nothing."""
        multiplies, _ = self.operations()
        scale = self["scale"]
        return (Saved(Keep.NEW, len(scale), batched=False),) if multiplies and isinstance(scale, tuple) else ()

    def torch_view_of(self, shapes: tuple[Shape, ...], layout: Layout) -> bool:
        """With no operation the export returns its input."""
        return not any(self.operations())

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        multiplies, adds = self.operations()
        rank = len(shapes[0])
        expression = "{x}"
        if multiplies:
            expression += " * " + self.torch_values(self["scale"], rank)
        if adds:
            offset = self["offset"]
            negative = not isinstance(offset, tuple) and offset < 0
            expression += f" - {-offset!r}" if negative else " + " + self.torch_values(offset, rank)
        per_channel = any(isinstance(self[a], tuple) for a in ("scale", "offset"))
        return TorchOp(None, expression, CHANNELS_FIRST if per_channel else ANY)

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Mul by the scale unless it is 1, Add the offset unless it is 0 (neither: Identity)."""
        rank = len(shapes[0]) + 1
        multiplies, adds = self.operations()
        y = inputs[0]
        if multiplies:
            y = graph.op("Mul", [y, self.onnx_values(graph, self["scale"], rank, layout)])
        if adds:
            y = graph.op("Add", [y, self.onnx_values(graph, self["offset"], rank, layout)])
        return y if y != inputs[0] else graph.op("Identity", [y])

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        rank = len(shapes[0])
        offset = self.keras_values(self["offset"], rank, layout)
        layer = call("layers.Rescaling", self.keras_values(self["scale"], rank, layout), offset=offset if offset != 0.0 else None)
        return KerasOp((("", layer),))


@REGISTRY.register("normalization", "Normalization")
class Normalization(PerChannel):
    """(x - mean) / max(sqrt(variance), 1e-7) per channel, from stored statistics (Keras)."""

    summary = "(x - mean) / sqrt(variance) per channel from stored statistics (Keras Normalization)"
    flops_rule = "2 per element (subtract, divide) + 2 per channel (square root, maximum)"
    roles = {"mean": Role.MEAN, "variance": Role.VARIANCE, "count": Role.COUNT}
    attributes = (
        Attr("axis", Axis(), None, (), "the channel axis, counted as Keras does (0 is the batch); per channel only"),
        Attr("mean", Values(), None, (), "constant means (then no weights); default: stored, non-trainable"),
        Attr("variance", Values(), None, (), "constant variances, given with mean"),
        Attr("invert", Flag(), False, (), "undo the normalisation: mean + x * sqrt(variance)"),
    )

    def check(self) -> None:
        if (self["mean"] is None) != (self["variance"] is None):
            given = "mean" if self["mean"] is not None else "variance"
            raise self.fail(
                f"{given} is given without {'variance' if given == 'mean' else 'mean'}; allowed: both (constants) "
                "or neither (stored statistics, non-trainable weights)",
                given,
            )
        variance = self["variance"]
        if variance is not None and any(v < 0 for v in (variance if isinstance(variance, tuple) else (variance,))):
            raise self.fail(f"a variance is negative; received variance={variance}; allowed: numbers >= 0", "variance")

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        rank = len(shape)
        channel = layout.channel_axis(rank) if rank > 1 else 0
        axis = self["axis"]
        if axis is not None and axis not in (channel + 1, channel - rank):
            raise self.fail(
                f"axis={axis} is not the channel axis of input {self.received(shape)}; cnncalc normalises per "
                f"channel only; allowed: {channel + 1} or {channel - rank} (0 is the batch), or leave it out",
                "axis",
            )
        channels = shape[channel]
        for attr in ("mean", "variance"):
            if self[attr] is not None:
                self.check_count(attr, shape, layout)
        buffers = {} if self["mean"] is not None else {"mean": (channels,), "variance": (channels,), "count": ()}
        return Facts(shape, buffers=buffers, flops=2 * product(shape) + 2 * channels, field=PASS)

    @classmethod
    def from_keras(cls, config: dict, shapes: tuple[Shape, ...], layout: Layout):
        """Keras saves `axis` as a list ([3]); one axis is this type's axis."""
        axis = config.get("axis")
        if isinstance(axis, list) and len(axis) == 1:
            config = {**config, "axis": axis[0]}
        return super().from_keras(config, shapes, layout)

    def keras_tensors(self, arrays: list, facts: Facts) -> dict:
        """Keras's stored mean, variance and count (none with constant mean and variance)."""
        return self.keras_arrays([a.reshape(-1) if a.ndim else a for a in arrays], tuple(facts.buffers), facts)

    def statistics(self, x, params: dict, layout: Layout):
        """(mean, deviation) shaped to broadcast along x's channels, in x's type."""
        if self["mean"] is not None:
            mean, variance = self.broadcast(self["mean"], x, layout), self.broadcast(self["variance"], x, layout)
        else:
            shape = [1] * x.ndim
            shape[channel_axis(x, layout)] = params["mean"].size
            mean = params["mean"].astype(x.dtype, copy=False).reshape(shape)
            variance = params["variance"].astype(x.dtype, copy=False).reshape(shape)
        return mean, np.maximum(np.sqrt(variance), x.dtype.type(KERAS_EPSILON))

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        mean, deviation = self.statistics(x, params, layout)
        if self["invert"]:
            return x * deviation + mean
        return (x - mean) / deviation

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """The division (or, inverted, the product) keeps the per-channel deviation the
        export computes from the variance, for x's gradient."""
        return (Saved(Keep.NEW, self.channels(shapes[0], layout), batched=False),)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        channels = shapes[0][layout.channel_axis(len(shapes[0])) if len(shapes[0]) > 1 else 0]
        module = call(
            "KerasNormalization",
            channels,
            invert=True if self["invert"] else None,
            mean=list(self["mean"]) if isinstance(self["mean"], tuple) else self["mean"],
            variance=list(self["variance"]) if isinstance(self["variance"], tuple) else self["variance"],
        )
        return TorchOp(module, wants=CHANNELS_FIRST)

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """(x - mean) / max(sqrt(variance), 1e-7) (inverted: x * deviation + mean), the
        deviation computed in the graph from the stored statistics LAYER.mean and
        LAYER.variance (count, read by nothing, is left out), or from the constants."""
        rank = len(shapes[0]) + 1
        if self["mean"] is not None:
            mean = self.onnx_values(graph, self["mean"], rank, layout)
            variance = self.onnx_values(graph, self["variance"], rank, layout)
        else:
            mean = graph.weight("mean", graph.along_channels(graph.tensor("mean"), rank, layout))
            variance = graph.weight("variance", graph.along_channels(graph.tensor("variance"), rank, layout))
        deviation = graph.op("Max", [graph.op("Sqrt", [variance]), graph.const(KERAS_EPSILON, "float32")])
        if self["invert"]:
            return graph.op("Add", [graph.op("Mul", [inputs[0], deviation]), mean])
        return graph.op("Div", [graph.op("Sub", [inputs[0], mean]), deviation])

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        rank = len(shapes[0])
        axis = 1 if not layout.channels_last and rank > 1 else -1
        constants = {}
        if self["mean"] is not None:
            # Keras aligns them with the kept axis itself and wants them of one shape: two
            # numbers, or one list per channel each (a number or a single value repeated)
            constants = {key: self[key] for key in ("mean", "variance")}
            if any(isinstance(v, tuple) for v in constants.values()):
                channels = shapes[0][layout.channel_axis(rank) if rank > 1 else 0]
                constants = {key: list(v) * (channels // len(v)) if isinstance(v, tuple) else [v] * channels
                             for key, v in constants.items()}
        layer = call("layers.Normalization", axis=axis if axis != -1 else None, invert=True if self["invert"] else None, **constants)
        return KerasOp((("", layer),))
