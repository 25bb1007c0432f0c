"""Linear (dense) layers and normalisation.

Linear acts on the last axis, as PyTorch's nn.Linear and Keras's Dense do: weight
(out, in), bias (out); MACs = leading elements x in x out.

Normalisation in inference mode. BatchNorm normalises with its running statistics:
2 FLOPs per element (subtract the mean, divide by the deviation) plus one per element for
each of scale and shift. Layer, group and instance norm compute their statistics: per
element 1 (mean) + 3 (variance: subtract, square, add) + 2 (normalise) + 1 each for scale
and shift, plus 3 per normalised slice (two divisions and a square root).

For the receptive field, normalisation is position-wise: its statistics are a scale over
all positions, not features computed from them (as torchscan and Araujo et al. treat it).
"""

from __future__ import annotations

from typing import ClassVar

from .attrs import ACTIVATION, BIAS, IN_CHECK, OUT, Attr, AttrError, Flag, Int, Ints, Number, show
from ..errors import format_shape
from .lazy import np, numeric
from .activation import FusedActivation
from .code import CHANNELS_FIRST, FILE, KerasOp, TorchOp, call, single
from .base import GLOBAL, PASS, REGISTRY, Facts, Grads, Keep, Layer, Layout, Role, Saved, Shape, Working, channel_axis, channels_back, channels_first, keras_axes, nbytes, product


@REGISTRY.register("linear", "Dense", "fc", "fully_connected")
class Linear(Layer, FusedActivation):
    """y = x W^T + b over the last axis."""

    family = "dense"
    roles = {"weight": Role.KERNEL, "bias": Role.SHIFT}
    primary = "out"
    summary = "fully connected layer over the last axis (PyTorch Linear, Keras Dense)"
    flops_rule = "2 x MACs + output elements (bias) + fused activation"
    attributes = (OUT("output features"), BIAS(), ACTIVATION(), IN_CHECK("expected input features; inferred, checked if given"))

    def check(self) -> None:
        self.check_activation()

    def keras_tensors(self, arrays: list, facts: Facts) -> dict:
        """Keras's kernel (in, out) is PyTorch's weight transposed; then the bias."""
        turned = [np.ascontiguousarray(arrays[0].T), *arrays[1:]] if arrays else []
        return self.keras_arrays(turned, ("weight", "bias")[: len(arrays)], facts)

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        features, out = shape[-1], self["out"]
        self.check_in(features)
        out_shape = (*shape[:-1], out)
        params = {"weight": (out, features)}
        if self["bias"]:
            params["bias"] = (out,)
        macs = product(shape[:-1]) * features * out
        flops = 2 * macs + (product(out_shape) if self["bias"] else 0)
        fused = self.activation_facts(out_shape, layout)
        flops += fused.flops if fused else 0
        # On a (H, W, C) input the last axis is the channels: positions stay apart.
        field = PASS if len(shape) > 1 and layout.channels_last else GLOBAL
        warnings = ()
        # (C, H, W) with a square map, as a student's conv stack gives: it would act along W
        # alone (ConvNeXt's pointwise linear on a permuted (H, W, C) map is meant, not warned of)
        if len(shape) >= 3 and not layout.channels_last and shape[-1] == shape[-2]:
            from ..errors import CnnWarning, WarningKind
            from ..i18n import tr

            warnings = (CnnWarning(WarningKind.LAYOUT, tr("hint.flatten", layer=self.name, shape=tuple(shape))),)
        return Facts(out_shape, params, macs=macs, flops=flops, field=field, warnings=warnings)

    def working(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, batch: int) -> Working:
        """params = (in + bias) x out; MACs = in x out per position (weight (out, in))."""
        from ..i18n import tr

        out, features = facts.params["weight"]
        bias = " + 1" if "bias" in facts.params else ""
        macs = facts.macs * batch
        if macs != features * out:
            work = tr("work.dense.macs_positions", features=features, out=out, positions=macs // (features * out), macs=macs)
        else:
            work = tr("work.dense.macs", features=features, out=out, macs=macs)
        return Working(params=(tr("work.dense.params", features=features, bias=bias, out=out, total=facts.param_count),), macs=(work,))

    def params_note(self, given: int, facts: Facts, shapes: tuple[Shape, ...]) -> str:
        """The bias forgotten (in x out), else a count that is a whole number of (in + bias)
        per output implies another input size (a wrong flatten)."""
        from ..i18n import tr

        out, features = facts.params["weight"]
        if "bias" in facts.params and given == features * out:
            return tr("note.dense_no_bias", features=features, out=out, given=given)
        per_output = given / out - (1 if "bias" in facts.params else 0)
        if per_output == int(per_output) and per_output > 0:
            return tr("note.dense_features", given=given, implied=int(per_output), features=features, shape=tuple(shapes[0]))
        return ""

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x, weight = inputs[0], params["weight"]
        y = np.empty((*x.shape[:-1], weight.shape[0]), dtype=np.result_type(x, weight))
        numeric.matmul(x, weight.T, y)
        if "bias" in params:
            y = y + params["bias"]
        return self.apply_activation(y, layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The product beside the output while the bias is added; then the fused activation's."""
        return self.with_activation(nbytes(out, batch, itemsize) if self["bias"] else 0, out, layout, batch, itemsize)

    autocast = "lower"

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """AddmmBackward (MmBackward) keeps the input only for the weights' gradient and the
        weight only for the input's; then the fused activation's."""
        kept = ((Saved(Keep.INPUT),) if grads.weights else ()) + ((Saved(Keep.WEIGHT, tensor="weight"),) if grads.any_input else ())
        return kept + self.fused_saved(shapes, facts, layout, grads)
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Gemm with PyTorch's (out, in) weight on 2 axes; MatMul by its transpose
        (LAYER.weight.T) and Add on more."""
        from .activation import onnx_fused

        rank = len(shapes[0]) + 1
        if rank == 2:
            args = [inputs[0], graph.weight("weight")] + ([graph.weight("bias")] if graph.has("bias") else [])
            y = graph.op("Gemm", args, transB=1)
        else:
            y = graph.op("MatMul", [inputs[0], graph.weight("weight.T", graph.tensor("weight").T)])
            if graph.has("bias"):
                y = graph.op("Add", [y, graph.weight("bias")])
        return onnx_fused(self, graph, y, out, layout)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        module = call("nn.Linear", shapes[0][-1], self["out"], bias=False if not self["bias"] else None).named("in_features", "out_features")
        return TorchOp(module, self.torch_activation("{m}({x})", -1), FILE)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        activation, after = self.keras_activation()
        layer = call("layers.Dense", self["out"], use_bias=False if not self["bias"] else None, activation=activation)
        return KerasOp((("", layer), *after))


EPS = Attr("eps", Number(0, describe="a non-negative number"), 1e-5, ("epsilon",), "added to the variance")
# Keras spells these types its own way (BatchNormalization, batch_normalization ...) and gives
# them its own defaults: a layer written with Keras's spelling takes Keras's.
KERAS_EPS = Attr("eps", Number(0, describe="a non-negative number"), 1e-3, ("epsilon",), "added to the variance (Keras's default)")


class Norm(Layer):
    family = "normalisation"
    convention: ClassVar[str] = "pytorch"  # whose defaults the attributes take: "pytorch" or "keras"
    stats_per_element = 0  # FLOPs per element for computing statistics (0: running stats)
    roles = {"weight": Role.SCALE, "bias": Role.SHIFT, "running_mean": Role.MEAN, "running_var": Role.VARIANCE}

    @classmethod
    def from_keras(cls, config: dict, shapes: tuple[Shape, ...], layout: Layout):
        """Keras's `axis` (counted with the batch) must be the channel axis, which cnncalc
        normalises along; the rest as for any type."""
        rest = {k: v for k, v in config.items() if k != "axis"}
        if "axis" in config:
            rank = len(shapes[0])
            channel = layout.channel_axis(rank) if rank > 1 else 0
            if keras_axes(config["axis"], shapes[0]) != (channel,):
                raise AttrError(
                    f"axis={show(config['axis'])} is not the channel axis of its {format_shape(shapes[0])} input; cnncalc "
                    f"normalises along the channels; allowed: {channel + 1} or {channel - rank - 1} (0 is the batch)"
                )
        return super().from_keras(rest, shapes, layout)

    def keras_tensors(self, arrays: list, facts: Facts) -> dict:
        """Keras's gamma (when it scales), beta (when it centres), then moving_mean and
        moving_variance: PyTorch's weight, bias, running_mean, running_var."""
        names = [n for n in ("weight", "bias") if n in facts.params] + list(facts.buffers)
        return self.keras_arrays(list(arrays), names, facts)

    def for_probing(self, tensors: dict) -> Layer:
        """Statistics over positions (or over the batch) mix every position: under the
        probe the layer is the identity, as the field's formula takes it."""
        if self.stats_per_element or "running_mean" not in tensors:
            return REGISTRY.get("identity")(self.name, {}, self.where, self.sources)
        return self

    def channels_of(self, shape: Shape, layout: Layout) -> int:
        """The channel count, after checking the input has this type's rank."""
        sizes = {None: None, 1: (1, 2), 2: (3,), 3: (4,)}[self.rank]
        if not shape or (sizes and len(shape) not in sizes):
            wanted = layout.describe(self.rank) if self.rank else "(C, ...)"
            wanted = "(C,) or " + wanted if self.rank == 1 else wanted
            raise self.fail(f"needs a {wanted} input; received {self.received(shape)}")
        return layout.split(shape)[0] if len(shape) > 1 else shape[0]

    def affine_weights(self, size: Shape) -> dict[str, Shape]:
        scale = self["scale"] if self["scale"] is not None else self["affine"]
        center = self["center"] if self["center"] is not None else self["affine"] and self.values.get("bias", True)
        params = {}
        if scale:
            params["weight"] = size
        if center:
            params["bias"] = size
        return params

    def scale_shift(self, y, params: dict, axis: int, shape):
        """y * weight + bias, the per-channel (or per-element) affine part."""
        if "weight" in params:
            y = y * params["weight"].reshape(shape)
        if "bias" in params:
            y = y + params["bias"].reshape(shape)
        return y

    def cost(self, shape: Shape, params: dict, slices: int) -> int:
        per_element = self.stats_per_element + 2 + len(params)
        return per_element * product(shape) + (3 * slices if self.stats_per_element else 0)

    def learns(self) -> tuple[bool, bool]:
        """(scale, shift): Keras's scale and center, else PyTorch's affine (and bias)."""
        scale = self["scale"] if self["scale"] is not None else self["affine"]
        center = self["center"] if self["center"] is not None else self["affine"] and self.values.get("bias", True)
        return bool(scale), bool(center)

    def torch_affine(self) -> bool:
        """PyTorch's single affine switch, refusing a scale without a shift or the reverse."""
        scale, center = self.learns()
        if scale != center:
            raise self.fail(
                f"PyTorch learns the scale and the shift together (affine); received scale={str(scale).lower()} "
                f"and center={str(center).lower()}; allowed for export to PyTorch: both or neither",
                "scale" if self.given("scale") else "center",
            )
        return scale

    def keras_options(self) -> dict:
        scale, center = self.learns()
        return {"epsilon": self["eps"], "center": False if not center else None, "scale": False if not scale else None}

    def onnx_affine(self, graph, y: str, rank: int, layout: Layout) -> str:
        """y * weight + bias along the channels of a batched value of `rank` axes (each
        when the layer has it)."""
        if graph.has("weight"):
            y = graph.op("Mul", [y, graph.weight("weight", graph.along_channels(graph.tensor("weight"), rank, layout))])
        if graph.has("bias"):
            y = graph.op("Add", [y, graph.weight("bias", graph.along_channels(graph.tensor("bias"), rank, layout))])
        return y

    @staticmethod
    def torch_rank(shape: Shape) -> int:
        """BatchNorm1d takes (N, C) and (N, C, L); 2d (N, C, H, W); 3d (N, C, D, H, W)."""
        return max(len(shape) - 1, 1)


SCALE = Attr("scale", Flag(), None, (), "learn a scale (Keras; default: affine)")
CENTER = Attr("center", Flag(), None, (), "learn a shift (Keras; default: affine)")


def channel_norm_attributes(affine: bool, track: bool, keras: bool = False) -> tuple[Attr, ...]:
    """BatchNorm's and InstanceNorm's attributes; only their PyTorch defaults differ. With
    `keras`, Keras's BatchNormalization's: epsilon 1e-3, and momentum 0.99 in Keras's
    meaning (the old average's weight; PyTorch's momentum is the new batch's, 1 - Keras's)."""
    if keras:
        momentum = Attr("momentum", Number(0, 1), 0.99, (), "Keras's meaning: the old running average's weight, "
                        "1 - PyTorch's momentum (training only; no effect here)")
    else:
        momentum = Attr("momentum", Number(0, 1), 0.1, (), "PyTorch's meaning: the new batch's weight in the running "
                        "average, 1 - Keras's momentum (training only; no effect here)")
    return (
        Attr("affine", Flag(), affine, (), "learn a scale and a shift (gamma, beta)"),
        SCALE,
        CENTER,
        KERAS_EPS if keras else EPS,
        momentum,
        Attr("track_running_stats", Flag(), track, (), "keep running mean and variance"),
        IN_CHECK("expected channels (num_features); inferred, checked if given"),
    )


class BatchNorm(Norm):
    """Normalises each channel with running mean and variance (inference mode), then scales and shifts."""

    primary = "in"
    summary = "batch normalisation per channel (inference: running statistics)"
    flops_rule = "2 per element (subtract mean, divide by deviation) + 1 each for scale and shift"
    attributes = channel_norm_attributes(affine=True, track=True)
    torch_name = "BatchNorm"

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels = self.channels_of(shape, layout)
        self.check_positions(shape, layout)
        self.check_in(channels)
        params = self.affine_weights((channels,))
        buffers = {"running_mean": (channels,), "running_var": (channels,)} if self["track_running_stats"] else {}
        return Facts(shape, params, buffers, flops=self.cost(shape, params, self.slices(channels)), field=PASS)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        axis = channel_axis(x, layout)
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        if "running_mean" in params:  # inference: the running statistics
            mean, var = params["running_mean"].reshape(shape), params["running_var"].reshape(shape)
        else:  # no running statistics: the batch's own (per channel), as PyTorch in eval mode
            axes = self.statistics_axes(x, axis)
            mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        # (x - mean) / sqrt(var + eps) * weight + bias as one scale and one shift: two passes
        scale = 1 / np.sqrt(var + x.dtype.type(self["eps"]))
        if "weight" in params:
            scale = scale * params["weight"].reshape(shape)
        shift = -mean * scale
        if "bias" in params:
            shift = shift + params["bias"].reshape(shape)
        y = np.multiply(x, scale.astype(x.dtype, copy=False), out=x if owned else None)
        y += shift.astype(x.dtype, copy=False)
        return y

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """A few arrays of one value per channel (per sample and channel when it computes its
        own statistics); np.var's temporary of the input's size is gone before the output
        is made."""
        slices = self.channels_of(shapes[0], layout) * (batch if self.stats_per_element else 1)
        return 8 * slices * 8

    def shares_input(self) -> bool:
        """An input nothing else reads is scaled in place."""
        return True

    def statistics_axes(self, x, axis: int) -> tuple[int, ...]:
        return tuple(a for a in range(x.ndim) if a != axis)

    def mixes_samples(self) -> bool:
        """Without running statistics it normalises by the batch's own, over every sample."""
        return not self["track_running_stats"]

    def extra_buffer_bytes(self) -> int:
        """num_batches_tracked, an int64, beside the running statistics."""
        return 8 if self["track_running_stats"] else 0

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """NativeBatchNormBackward keeps the input and the batch's mean and inverse
        deviation per channel (in the type of the weights or running statistics)."""
        channels = self.channels_of(shapes[0], layout)
        return (Saved(Keep.INPUT), *(Saved(Keep.NEW, channels, "stats", batched=False),) * 2)

    def inference_affine(self, tensors: dict, layout: Layout):
        """With running statistics: scale = weight / sqrt(running_var + eps), shift = bias -
        running_mean * scale."""
        if "running_mean" not in tensors:
            return None
        dtype = tensors["running_mean"].dtype
        scale = 1 / np.sqrt(tensors["running_var"] + dtype.type(self["eps"]))
        scale = scale * tensors["weight"] if "weight" in tensors else scale
        shift = -tensors["running_mean"] * scale + (tensors["bias"] if "bias" in tensors else 0)
        return scale, shift

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """BatchNormalization with the running statistics (inference), channels first.
        Without them, the batch's own statistics per channel (over every other axis), as
        the forward pass computes them."""
        rank = len(shapes[0]) + 1
        if not graph.has("running_mean"):
            channel = rank - 1 if layout.channels_last and rank > 2 else 1
            y = graph.normalise(inputs[0], [a for a in range(rank) if a != channel], float(self["eps"]))
            return self.onnx_affine(graph, y, rank, layout)
        channels = self.channels_of(shapes[0], layout)
        ones, zeros = np.ones(channels, np.float32), np.zeros(channels, np.float32)
        scale = graph.weight("weight") if graph.has("weight") else graph.const(ones, "float32")
        shift = graph.weight("bias") if graph.has("bias") else graph.const(zeros, "float32")
        x = graph.first(inputs[0], rank, layout)
        y = graph.op("BatchNormalization", [x, scale, shift, graph.weight("running_mean"), graph.weight("running_var")],
                     epsilon=float(self["eps"]))
        return graph.back(y, rank, layout)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        shape = shapes[0]
        affine, track = self.torch_affine(), self["track_running_stats"]
        defaults = {a.name: a.default for a in self.attributes}
        default_affine, default_track = defaults["affine"], defaults["track_running_stats"]
        module = call(
            f"nn.{self.torch_name}{self.torch_rank(shape)}d",
            self.channels_of(shape, layout),
            eps=self["eps"] if self["eps"] != 1e-5 else None,
            momentum=self.torch_momentum() if self.torch_momentum() != 0.1 else None,
            affine=affine if affine != default_affine else None,
            track_running_stats=track if track != default_track else None,
        ).named("num_features")
        return TorchOp(module, wants=CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        """Keras's BatchNormalization at inference; its momentum is 1 - PyTorch's."""
        axis = 1 if not layout.channels_last and len(shapes[0]) > 1 else -1
        if not self["track_running_stats"]:
            raise self.fail(
                "Keras's BatchNormalization always keeps running statistics and uses them at inference; received "
                "track_running_stats=false; allowed for export to Keras: track_running_stats=true",
                "track_running_stats",
            )
        layer = call("layers.BatchNormalization", axis=axis if axis != -1 else None, momentum=self.keras_momentum(), **self.keras_options())
        return KerasOp((("", layer),))

    def torch_momentum(self) -> float:
        """PyTorch's momentum: the new batch's weight in the running average."""
        return self["momentum"] if self.convention == "pytorch" else round(1 - self["momentum"], 12)

    def keras_momentum(self) -> float:
        """Keras's momentum: the old running average's weight."""
        return self["momentum"] if self.convention == "keras" else round(1 - self["momentum"], 12)

    def check_positions(self, shape: Shape, layout: Layout) -> None:
        """Running statistics need nothing of the positions."""

    def slices(self, channels: int) -> int:
        return 0


class InstanceNorm(BatchNorm):
    """Normalises each channel of each sample by its own mean and variance."""

    primary = None
    summary = "instance normalisation (statistics per sample and channel)"
    flops_rule = "per element 6 (statistics and normalising) + 1 each for scale and shift; 3 per channel"
    stats_per_element = 4
    attributes = channel_norm_attributes(affine=False, track=False)
    torch_name = "InstanceNorm"

    def check_positions(self, shape: Shape, layout: Layout) -> None:
        if len(shape) < 2:
            raise self.fail(f"needs spatial positions to normalise over; received {self.received(shape)}")
        if product(layout.split(shape)[1]) == 1 and not self["track_running_stats"]:
            raise self.fail(
                f"normalising each channel over a single position gives a variance of 0 (PyTorch refuses it); "
                f"received {self.received(shape)}; allowed: more than one spatial position, or "
                "track_running_stats: true"
            )

    def slices(self, channels: int) -> int:
        return channels

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """PyTorch runs a batch norm over (1, N x C, ...): it keeps the input, mean and
        inverse deviation per sample and channel, and the weight and running statistics
        repeated per sample (new tensors; the bias is not kept)."""
        channels = self.channels_of(shapes[0], layout)
        stats = [Saved(Keep.NEW, channels, "stats")] * 2
        repeated = [Saved(Keep.NEW, channels, "param")] * (("weight" in facts.params) + 2 * bool(facts.buffers))
        return (Saved(Keep.INPUT, reshaped=True), *stats, *repeated)

    def statistics_axes(self, x, axis: int) -> tuple[int, ...]:
        return tuple(a for a in range(1, x.ndim) if a != axis)  # per sample and channel

    def mixes_samples(self) -> bool:
        """Its statistics are each sample's own."""
        return False

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """InstanceNormalization (channels first); with running statistics, batch
        normalisation's form (PyTorch then normalises by them)."""
        if graph.has("running_mean"):
            return super().onnx(graph, inputs, shapes, out, layout)
        rank = len(shapes[0]) + 1
        channels = self.channels_of(shapes[0], layout)
        scale = graph.weight("weight") if graph.has("weight") else graph.const(np.ones(channels, np.float32), "float32")
        shift = graph.weight("bias") if graph.has("bias") else graph.const(np.zeros(channels, np.float32), "float32")
        x = graph.first(inputs[0], rank, layout)
        y = graph.op("InstanceNormalization", [x, scale, shift], epsilon=float(self["eps"]))
        return graph.back(y, rank, layout)


    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        """Instance normalisation is group normalisation with one channel per group."""
        if self["track_running_stats"]:
            raise self.fail(
                "Keras has no instance normalisation with running statistics; received track_running_stats=true; "
                "allowed for export to Keras: track_running_stats=false",
                "track_running_stats",
            )
        channels = self.channels_of(shapes[0], layout)
        axis = 1 if not layout.channels_last else -1
        layer = call("layers.GroupNormalization", groups=channels, axis=axis if axis != -1 else None, **self.keras_options())
        return KerasOp((("", layer),))


@REGISTRY.register("layernorm", "LayerNorm")
class LayerNorm(Norm):
    """Normalises over the last dimensions (`shape`, PyTorch's normalized_shape; default the last axis)."""

    summary = "layer normalisation over the trailing dimensions"
    flops_rule = "per element 6 (statistics and normalising) + 1 each for scale and shift; 3 per slice"
    stats_per_element = 4
    primary = "shape"
    attributes = (
        Attr("shape", Ints(1), None, ("normalized_shape",), "trailing dimensions to normalise over (default: the last)"),
        Attr("affine", Flag(), True, ("elementwise_affine",), "learn a scale and a shift per element"),
        Attr("bias", Flag(), True, ("use_bias",), "learn the shift (PyTorch >= 2.1)"),
        SCALE,
        CENTER,
        EPS,
    )

    @classmethod
    def from_keras(cls, config: dict, shapes: tuple[Shape, ...], layout: Layout):
        """Keras's `axis` (one or several, counted with the batch) must be the trailing axes,
        which become `shape`: the normalised dimensions."""
        rest = {k: v for k, v in config.items() if k != "axis"}
        shape = shapes[0]
        axes = keras_axes(config.get("axis", -1), shape)
        if axes != tuple(range(len(shape) - len(axes), len(shape))):
            raise AttrError(
                f"axis={show(config.get('axis'))} normalises over axes that are not the last ones of its "
                f"{format_shape(shape)} input; allowed: the last axes (-1, or a list ending with -1)"
            )
        layer_type, values = super().from_keras(rest, shapes, layout)
        return layer_type, {**values, "shape": [shape[a] for a in axes]}

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        wanted = self["shape"]
        normalised = (shape[-1],) if wanted is None else (wanted if isinstance(wanted, tuple) else (wanted,))
        if tuple(shape[len(shape) - len(normalised):]) != normalised or len(normalised) > len(shape):
            raise self.fail(
                f"normalized shape {list(normalised)} does not match the end of the input "
                f"{self.received(shape)}; allowed: the last dimensions of the input, e.g. {[shape[-1]]}",
                "shape",
            )
        params = self.affine_weights(normalised)
        slices = product(shape) // product(normalised)
        return Facts(shape, params, flops=self.cost(shape, params, slices), field=PASS)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        count = 1 if self["shape"] is None else len(self["shape"]) if isinstance(self["shape"], tuple) else 1
        axes = tuple(range(x.ndim - count, x.ndim))
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + x.dtype.type(self["eps"]))
        return self.scale_shift(y, params, None, x.shape[x.ndim - count :]).astype(x.dtype, copy=False)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The normalised input and the scaled one beside the output; mean, variance and
        deviation, one value per normalised slice."""
        shape = shapes[0]
        slices = product(shape) // product(self.normalised(shape))
        return (2 * product(out) + 3 * slices) * batch * itemsize

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """NativeLayerNormBackward keeps the input, and mean and inverse deviation per slice
        (float32 under autocast: the type of its weights)."""
        slices = product(shapes[0]) // product(self.normalised(shapes[0]))
        return (Saved(Keep.INPUT), *(Saved(Keep.NEW, slices, "stats"),) * 2, *(Saved(Keep.WEIGHT, tensor=n) for n in facts.params))

    def normalised(self, shape: Shape) -> Shape:
        wanted = self["shape"]
        return (shape[-1],) if wanted is None else (wanted if isinstance(wanted, tuple) else (wanted,))

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """LayerNormalization over the trailing normalised axes from opset 17; before, the
        statistics by ReduceMean, then the scale and shift (of the normalised shape)."""
        size = self.normalised(shapes[0])
        if graph.opset < 17:
            rank = len(shapes[0]) + 1
            y = graph.normalise(inputs[0], list(range(rank - len(size), rank)), float(self["eps"]))
            if graph.has("weight"):
                y = graph.op("Mul", [y, graph.weight("weight")])
            return graph.op("Add", [y, graph.weight("bias")]) if graph.has("bias") else y
        scale = graph.weight("weight") if graph.has("weight") else graph.const(np.ones(size, np.float32), "float32")
        args = [inputs[0], scale] + ([graph.weight("bias")] if graph.has("bias") else [])
        return graph.op("LayerNormalization", args, axis=-len(size), epsilon=float(self["eps"]))

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        scale, center = self.learns()
        if center and not scale:
            raise self.fail(
                "PyTorch's LayerNorm cannot learn a shift without a scale; allowed for export to PyTorch: "
                "scale and center, scale only, or neither",
                "center",
            )
        module = call(
            "nn.LayerNorm",
            self.normalised(shapes[0]) if len(self.normalised(shapes[0])) > 1 else self.normalised(shapes[0])[0],
            eps=self["eps"] if self["eps"] != 1e-5 else None,
            elementwise_affine=False if not scale else None,
            bias=False if scale and not center else None,
        ).named("normalized_shape")
        return TorchOp(module, wants=FILE)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        count = len(self.normalised(shapes[0]))
        axis = -1 if count == 1 else list(range(-count, 0))
        return KerasOp((("", call("layers.LayerNormalization", axis=axis if axis != -1 else None, **self.keras_options())),))


@REGISTRY.register("groupnorm", "GroupNorm")
class GroupNorm(Norm):
    """Normalises groups of channels together over all positions."""

    summary = "group normalisation (statistics per group of channels)"
    flops_rule = "per element 6 (statistics and normalising) + 1 each for scale and shift; 3 per group"
    stats_per_element = 4
    primary = "groups"
    attributes = (
        Attr("groups", Int(1), None, ("num_groups",), "number of channel groups"),
        Attr("affine", Flag(), True, (), "learn a scale and a shift per channel"),
        SCALE,
        CENTER,
        EPS,
    )

    def check(self) -> None:
        if self["groups"] is None:
            raise self.fail("missing the required attribute 'groups'; allowed: e.g. groupnorm: 32")

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels = self.channels_of(shape, layout)
        if channels % self["groups"]:
            raise self.fail(
                f"{channels} channels ({self.received_input_text()}) are not divisible by groups={self['groups']}"
                f"{'' if self.given('groups') else ' (Keras' + chr(39) + 's default)'}; "
                "allowed: a number of groups dividing the channels",
                "groups",
            )
        if product(shape) // self["groups"] == 1:
            raise self.fail(
                f"normalising each group over a single value gives a variance of 0 (PyTorch refuses it for one "
                f"sample); received {self.received(shape)} in groups={self['groups']}; allowed: groups with more "
                "than one value each (fewer groups, or spatial positions)",
                "groups",
            )
        params = self.affine_weights((channels,))
        return Facts(shape, params, flops=self.cost(shape, params, self["groups"]), field=PASS)

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """NativeGroupNormBackward keeps the input, and mean and inverse deviation per
        sample and group."""
        return (Saved(Keep.INPUT), *(Saved(Keep.NEW, self["groups"], "stats"),) * 2, *(Saved(Keep.WEIGHT, tensor=n) for n in facts.params if n == "weight"))

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        batch, channels = x.shape[:2]
        grouped = x.reshape(batch, self["groups"], -1)
        mean, var = grouped.mean(axis=2, keepdims=True), grouped.var(axis=2, keepdims=True)
        y = ((grouped - mean) / np.sqrt(var + x.dtype.type(self["eps"]))).reshape(x.shape)
        shape = [1, channels] + [1] * (x.ndim - 2)
        return channels_back(self.scale_shift(y, params, 1, shape).astype(x.dtype, copy=False), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The input grouped (a copy when it is not contiguous), normalised and scaled,
        beside the output; statistics per sample and group."""
        return (3 * product(out) + 4 * self["groups"]) * batch * itemsize

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        module = call(
            "nn.GroupNorm",
            self["groups"],
            self.channels_of(shapes[0], layout),
            eps=self["eps"] if self["eps"] != 1e-5 else None,
            affine=False if not self.torch_affine() else None,
        ).named("num_groups", "num_channels")
        return TorchOp(module, wants=CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        axis = 1 if not layout.channels_last and len(shapes[0]) > 1 else -1
        layer = call("layers.GroupNormalization", groups=self["groups"], axis=axis if axis != -1 else None, **self.keras_options())
        return KerasOp((("", layer),))

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Channels first, reshaped to (N, groups, the rest), normalised along the last
        axis, reshaped back, then scaled and shifted per channel. (ONNX's
        GroupNormalization came at opset 18 with its scale per group, and changed to one
        per channel at 21: this form means the same at every opset.)"""
        rank = len(shapes[0]) + 1
        x = graph.first(inputs[0], rank, layout)
        grouped = graph.op("Reshape", [x, graph.const([0, self["groups"], -1])])
        y = graph.normalise(grouped, [2], float(self["eps"]))
        channels, spatial = layout.split(shapes[0]) if len(shapes[0]) > 1 else (shapes[0][0], ())
        y = graph.op("Reshape", [y, graph.const([0, channels, *spatial])])
        y = self.onnx_affine(graph, y, rank, Layout())  # channels first here
        return graph.back(y, rank, layout)


REGISTRY.variant(BatchNorm, "batchnorm", "bn")
# Keras's spellings, with Keras's defaults (epsilon 1e-3; momentum 0.99 as Keras means it;
# GroupNormalization: 32 groups).
REGISTRY.variant(BatchNorm, "batch_normalization", "BatchNormalization", convention="keras",
                 summary="batch normalisation per channel (inference: running statistics), Keras's defaults",
                 attributes=channel_norm_attributes(affine=True, track=True, keras=True))
REGISTRY.variant(LayerNorm, "layer_normalization", "LayerNormalization", convention="keras",
                 summary="layer normalisation over the trailing dimensions, Keras's defaults",
                 attributes=tuple(KERAS_EPS if a is EPS else a for a in LayerNorm.attributes))
REGISTRY.variant(GroupNorm, "group_normalization", "GroupNormalization", convention="keras",
                 summary="group normalisation (statistics per group of channels), Keras's defaults",
                 attributes=tuple(KERAS_EPS if a is EPS else Attr("groups", Int(1), 32, ("num_groups",), "number of channel groups (Keras's default 32)") if a.name == "groups" else a for a in GroupNorm.attributes))
REGISTRY.variant(InstanceNorm, "instancenorm", "InstanceNormalization")
for _rank in (1, 2, 3):
    REGISTRY.variant(BatchNorm, f"batchnorm{_rank}d", f"BatchNorm{_rank}d", rank=_rank)
    REGISTRY.variant(InstanceNorm, f"instancenorm{_rank}d", f"InstanceNorm{_rank}d", rank=_rank)
