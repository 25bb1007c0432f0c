"""Convolutions: one class per family for 1-D, 2-D and 3-D (the rank is data).

Weights use PyTorch's layouts (CONTRACT.md §5): a convolution's weight is
(out, in / groups, *kernel), a transposed convolution's (in, out / groups, *kernel).
MACs count the multiply-accumulates of the kernel, bias excluded:
    conv:        output elements x (in / groups) x kernel volume
    transposed:  input elements x (out / groups) x kernel volume
FLOPs are 2 x MACs, plus one addition per output element for the bias, plus the fused
activation's own cost.
"""

from __future__ import annotations

from math import gcd

from ..attrs import (
    ACTIVATION,
    BIAS,
    DILATION,
    IN_CHECK,
    KERNEL,
    OUT,
    STRIDE,
    Attr,
    Choice,
    Int,
    Ints,
    Padding,
    show,
)
from ..windows import Window, keras_transposed_size, same_padding, transposed_taps, window_taps
from ..lazy import numeric
from .activation import FusedActivation
from .base import REGISTRY, SPATIAL_NAMES, Facts, Layer, Layout, Shape, channels_back, channels_first, product

PADDING = Attr("padding", Padding(), 0, ("p",), "zeros around the input: int, per dimension, [before, after] pairs, 'same' (TensorFlow) or 'valid'")
PADDING_MODE = Attr(
    "padding_mode",
    Choice("zeros", "reflect", "replicate", "circular"),
    "zeros",
    (),
    "what PyTorch pads with (values only; shapes are the same)",
)
GROUPS = Attr("groups", Int(1), 1, ("g",), "split channels into independent groups")
MULTIPLIER = Attr("multiplier", Int(1), 1, ("depth_multiplier",), "output channels per input channel")


class Windowed(Layer):
    """A layer sliding a window over the spatial dimensions (conv and pooling)."""

    def padding_pairs(self, spatial: Shape, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
        padding = self["padding"]
        rank = len(spatial)
        if padding == "same":
            return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(spatial, kernel, stride, dilation))
        if padding == "valid":
            return ((0, 0),) * rank
        pads = self.per_dim("padding", rank)
        return tuple(p if isinstance(p, tuple) else (p, p) for p in pads)

    def windows(self, spatial: Shape) -> tuple[Window, ...]:
        rank = len(spatial)
        kernel = self.per_dim("kernel", rank)
        stride = kernel if self["stride"] is None else self.per_dim("stride", rank)  # pools: stride = kernel
        dilation = self.per_dim("dilation", rank) if "dilation" in self.values else (1,) * rank
        pads = self.padding_pairs(spatial, kernel, stride, dilation)
        ceil = bool(self.values.get("ceil_mode", False))
        return tuple(Window(k, s, d, lo, hi, ceil) for k, s, d, (lo, hi) in zip(kernel, stride, dilation, pads))

    def slide(self, shape: Shape, spatial: Shape, windows: tuple[Window, ...]) -> tuple[Shape, tuple[str, ...]]:
        """Output spatial sizes, with a warning for each dimension whose last rows go unused."""
        names = SPATIAL_NAMES[len(spatial)]
        sizes, warnings = [], []
        for n, w, dim in zip(spatial, windows, names):
            out = w.output_size(n)
            if out < 1:
                raise self.fail(
                    f"the window does not fit along {dim}: the padded input has {n} + {w.before} + {w.after} = "
                    f"{w.padded(n)} positions but the kernel spans {w.extent} (kernel {w.kernel}, dilation "
                    f"{w.dilation}); received input {self.received(shape)}; allowed: a kernel spanning at "
                    f"most {w.padded(n)}, or more padding",
                    "kernel",
                )
            unused = w.unused_inputs(n)
            if unused:
                rows = "is" if unused == 1 else "are"
                warnings.append(
                    f"{self.name}: along {dim} the last {unused} of its {n} input rows {rows} never reached by a window: "
                    f"({n} + {w.before} + {w.after} - {w.extent}) mod {w.stride} = "
                    f"{(w.padded(n) - w.extent) % w.stride}"
                )
            sizes.append(out)
        return tuple(sizes), tuple(warnings)


def convolve(x, weight, bias, windows, groups: int, mode: str = "zeros"):
    """numeric.conv with the strides, paddings and dilations of these windows."""
    strides = [w.stride for w in windows]
    pairs = [(w.before, w.after) for w in windows]
    return numeric.conv(x, weight, bias, strides, pairs, [w.dilation for w in windows], groups, mode)


class Conv(Windowed, FusedActivation):
    """Convolution: out channels, each a sum over in / groups channels of a sliding kernel."""

    family = "convolution"
    folds_batchnorm = True  # weight (out, ...): a BatchNorm after it folds into weight and bias
    primary = "out"
    summary = "convolution with padding, stride, dilation and groups"
    flops_rule = "2 x MACs + output elements (bias) + fused activation"
    attributes = (
        OUT(),
        KERNEL(),
        STRIDE(),
        PADDING,
        DILATION(),
        GROUPS,
        BIAS(),
        PADDING_MODE,
        ACTIVATION(),
        IN_CHECK(),
    )

    def check(self) -> None:
        self.check_activation()

    def channels(self, channels: int) -> tuple[int, int]:
        """(output channels, groups) for this many input channels."""
        out, groups = self["out"], self["groups"]
        for count, what in ((channels, "input channels"), (out, "output channels (out)")):
            if count % groups:
                raise self.fail(
                    f"{what} {count} is not divisible by groups={groups}; received "
                    f"{channels} input channels {self.received_input_text()} and out={out}; "
                    f"allowed: groups dividing both, so a divisor of gcd({channels}, {out}) = {gcd(channels, out)}",
                    "groups",
                )
        return out, groups

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_input(shape, layout)
        self.check_in(channels)
        out, groups = self.channels(channels)
        windows = self.windows(spatial)
        out_spatial, warnings = self.slide(shape, spatial, windows)
        kernel = tuple(w.kernel for w in windows)
        params = {"weight": (out, channels // groups, *kernel)}
        if self["bias"]:
            params["bias"] = (out,)
        out_shape = layout.join(out, out_spatial)
        macs = product(out_shape) * (channels // groups) * product(kernel)
        return self.finish(out_shape, params, macs, tuple(window_taps(w) for w in windows), warnings, layout)

    def finish(self, out_shape, params, macs, field, warnings, layout) -> Facts:
        flops = 2 * macs + (product(out_shape) if self["bias"] else 0)
        fused = self.activation_facts(out_shape, layout)
        if fused is not None:
            flops += fused.flops
        return Facts(out_shape, params, macs=macs, flops=flops, field=field, warnings=warnings)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        _, groups = self.channels(x.shape[1])
        y = convolve(x, params["weight"], params.get("bias"), self.windows(x.shape[2:]), groups, self.values.get("padding_mode", "zeros"))
        return self.apply_activation(channels_back(y, layout), layout)


class DepthwiseConv(Conv):
    """Keras's DepthwiseConv: each input channel convolved with `multiplier` kernels of its own.

    In PyTorch terms a Conv with groups = in channels and out = in x multiplier.
    """

    primary = "kernel"
    summary = "one kernel per input channel (x multiplier), Keras's DepthwiseConv"
    attributes = (KERNEL(), STRIDE(), PADDING, DILATION(), MULTIPLIER, BIAS(), PADDING_MODE, ACTIVATION(), IN_CHECK())

    def channels(self, channels: int) -> tuple[int, int]:
        return channels * self["multiplier"], channels


class SeparableConv(Conv):
    """Keras's SeparableConv: a depthwise conv (no bias) then a 1x1 pointwise conv to `out`.

    Weights as two PyTorch convs: depthwise.weight (in x m, 1, *kernel), pointwise.weight
    (out, in x m, 1, ...) and pointwise.bias (out).
    """

    summary = "depthwise conv then pointwise 1x1 conv, Keras's SeparableConv"
    folds_batchnorm = False  # two weights
    attributes = (OUT(), KERNEL(), STRIDE(), PADDING, DILATION(), MULTIPLIER, BIAS(), ACTIVATION(), IN_CHECK())

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_input(shape, layout)
        self.check_in(channels)
        middle, out = channels * self["multiplier"], self["out"]
        windows = self.windows(spatial)
        out_spatial, warnings = self.slide(shape, spatial, windows)
        kernel = tuple(w.kernel for w in windows)
        params = {
            "depthwise.weight": (middle, 1, *kernel),
            "pointwise.weight": (out, middle, *(1,) * len(kernel)),
        }
        if self["bias"]:
            params["pointwise.bias"] = (out,)
        positions = product(out_spatial)
        macs = positions * middle * product(kernel) + positions * middle * out
        out_shape = layout.join(out, out_spatial)
        return self.finish(out_shape, params, macs, tuple(window_taps(w) for w in windows), warnings, layout)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        windows = self.windows(x.shape[2:])
        middle = convolve(x, params["depthwise.weight"], None, windows, x.shape[1])
        y = convolve(middle, params["pointwise.weight"], params.get("pointwise.bias"), [Window(1)] * len(windows), 1)
        return self.apply_activation(channels_back(y, layout), layout)


class ConvTranspose(Conv):
    """Transposed convolution (the gradient of a conv): upsamples by the stride.

    Integer padding follows PyTorch: out = (in - 1)*s - before - after + d*(k - 1) + 1 +
    output_padding. 'valid' and 'same' follow Keras's Conv*DTranspose.
    """

    summary = "transposed convolution (PyTorch padding, or Keras 'same'/'valid')"
    folds_batchnorm = False  # weight (in, out / groups, ...)
    attributes = (
        OUT(),
        KERNEL(),
        STRIDE(),
        PADDING,
        Attr("output_padding", Ints(0), None, (), "extra rows on one side (PyTorch: 0 by default)"),
        DILATION(),
        GROUPS,
        BIAS(),
        ACTIVATION(),
        IN_CHECK(),
    )

    def check(self) -> None:
        super().check()
        if self["output_padding"] is None:
            return
        rank = self.rank or 1
        keras = isinstance(self["padding"], str)
        limits = zip(self.per_dim("output_padding", rank), self.per_dim("stride", rank), self.per_dim("dilation", rank))
        for extra, stride, dilation in limits:
            if extra >= stride and (keras or extra >= dilation):
                allowed = f"less than the stride {stride}" + ("" if keras else f" or the dilation {dilation}")
                raise self.fail(
                    f"output_padding {show(self['output_padding'])} is too large; allowed: {allowed}",
                    "output_padding",
                )

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_input(shape, layout)
        self.check_in(channels)
        out, groups = self.channels(channels)
        kernel = self.per_dim("kernel", len(spatial))
        sizes, taps = [], []
        for i, (n, k, s, d, before, after, extra) in enumerate(self.geometry(spatial)):
            size = (n - 1) * s + d * (k - 1) + 1 - before - after + extra
            if size < 1:
                raise self.fail(
                    f"the output would have {size} positions along {SPATIAL_NAMES[len(spatial)][i]}: the padding "
                    f"removes more than (in - 1)*stride + kernel span = {(n - 1) * s + d * (k - 1) + 1}; "
                    f"received input {self.received(shape)}; allowed: less padding",
                    "padding",
                )
            sizes.append(size)
            taps.append(transposed_taps(k, s, d, before))
        params = {"weight": (channels, out // groups, *kernel)}
        if self["bias"]:
            params["bias"] = (out,)
        macs = product(shape) * (out // groups) * product(kernel)
        return self.finish(layout.join(out, sizes), params, macs, tuple(taps), (), layout)


    def geometry(self, spatial: Shape) -> list[tuple[int, int, int, int, int, int, int]]:
        """Per dimension (n, k, s, d, before, after, output_padding) in PyTorch's terms: the
        output is positions [before, full - after + output_padding) of the full-length
        result; Keras's 'same'/'valid' become the crop that gives Keras's size."""
        rank = len(spatial)
        kernel, stride, dilation = (self.per_dim(a, rank) for a in ("kernel", "stride", "dilation"))
        extra = self.per_dim("output_padding", rank) if self["output_padding"] is not None else (0,) * rank
        keras = isinstance(self["padding"], str)
        pairs = None if keras else self.padding_pairs(spatial, kernel, stride, dilation)
        result = []
        for i, (n, k, s, d) in enumerate(zip(spatial, kernel, stride, dilation)):
            if keras:
                given = self["output_padding"] is not None
                size = keras_transposed_size(n, k, s, d, self["padding"], extra[i] if given else None)
                before = self.keras_crop(size, k, s, d, given)
                after = (n - 1) * s + d * (k - 1) + 1 - before - size
                result.append((n, k, s, d, before, after, 0))
            else:
                result.append((n, k, s, d, *pairs[i], extra[i]))
        return result

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        geometry = self.geometry(x.shape[2:])
        _, groups = self.channels(x.shape[1])
        y = numeric.conv_transpose(
            x,
            params["weight"],
            params.get("bias"),
            [g[2] for g in geometry],
            [(g[4], g[5]) for g in geometry],
            [g[3] for g in geometry],
            groups,
            [g[6] for g in geometry],
        )
        return self.apply_activation(channels_back(y, layout), layout)

    def keras_crop(self, size: int, k: int, s: int, d: int, has_output_padding: bool) -> int:
        """Positions Keras crops before the output: none for 'valid'; for 'same' the forward
        conv's 'same' padding (TensorFlow's conv2d_backprop_input), or ke // 2 when
        output_padding is given (keras/src/backend/common/backend_utils.py)."""
        if self["padding"] == "valid":
            return 0
        if has_output_padding:
            return (d * (k - 1) + 1) // 2
        return same_padding(size, k, s, d)[0]


for _rank in (1, 2, 3):
    _d = f"{_rank}d"
    REGISTRY.variant(Conv, f"conv{_d}", f"Conv{_rank}D", f"Convolution{_rank}D", rank=_rank)
    REGISTRY.variant(
        ConvTranspose,
        f"conv_transpose{_d}",
        f"ConvTranspose{_d}",
        f"Conv{_rank}DTranspose",
        f"Convolution{_rank}DTranspose",
        f"deconv{_d}",
        rank=_rank,
    )
    REGISTRY.variant(DepthwiseConv, f"depthwise_conv{_d}", f"DepthwiseConv{_rank}D", rank=_rank)
    REGISTRY.variant(SeparableConv, f"separable_conv{_d}", f"SeparableConv{_rank}D", f"SeparableConvolution{_rank}D", rank=_rank)
