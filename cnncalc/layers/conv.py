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

from dataclasses import replace
from math import gcd
from typing import Any

from .attrs import (
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
from ..errors import CnnWarning, WarningKind
from .windows import TransposedWindow, Window, keras_transposed_size, same_padding, unread_phrases
from .lazy import np, numeric
from ..i18n import tr
from .activation import FusedActivation
from .code import CHANNELS_FIRST, Call, KerasOp, Raw, TorchOp, call, single, torch_pad
from .base import REGISTRY, SPATIAL_NAMES, chained, Facts, Grads, Keep, Layer, Layout, Role, Saved, Shape, Working, channels_back, channels_first, nbytes, product

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
        """Output spatial sizes, with a warning for each axis where input positions go
        unread: skipped by a stride longer than the kernel's reach, or past the last window."""
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
            unread = w.unread(n)
            for kind, phrase in unread_phrases(unread, w, dim) if unread.total else ():
                if kind is WarningKind.UNREACHED and unread.only_a_tail:  # the division's remainder
                    phrase += f": ({n} + {w.before} + {w.after} - {w.extent}) mod {w.stride} = {(w.padded(n) - w.extent) % w.stride}"
                warnings.append(CnnWarning(kind, f"{self.name}: along {dim} {phrase}"))
            sizes.append(out)
        return tuple(sizes), tuple(warnings)

    def working(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, batch: int) -> Working:
        """Each spatial size by the window formula (convolutions, pools with a kernel)."""
        work = super().working(shapes, facts, layout, batch)
        shape = shapes[0]
        if "kernel" not in self.values or len(shape) < 2:  # adaptive and global pools
            return work
        spatial = layout.split(shape)[1]
        names = SPATIAL_NAMES.get(len(spatial), ())
        lines = tuple(window.working(n, dim) for n, window, dim in zip(spatial, self.windows(spatial), names))
        return replace(work, output_shape=lines)


    def torch_padding(self, windows, mode: str = "zeros") -> tuple[Any, str]:
        """(the module's padding argument, the forward expression): symmetric padding goes
        to the module, TensorFlow's 'same' at stride 1 stays 'same', anything else becomes
        an explicit F.pad before it (exact, never silently different)."""
        pairs = [(w.before, w.after) for w in windows]
        if all(before == after for before, after in pairs):
            return (single(tuple(b for b, _ in pairs)) or None), "{m}({x})"
        if self["padding"] == "same" and all(w.stride == 1 for w in windows):
            return "same", "{m}({x})"
        options = "" if mode == "zeros" else f", mode={mode!r}"
        return None, f"{{m}}(F.pad({{x}}, {torch_pad(pairs)}{options}))"

    def keras_padding(self, spatial: Shape, windows, layout: Layout) -> tuple[str, tuple[tuple[str, Call], ...]]:
        """(Keras's padding name, layers before): 'same' or 'valid' where they give exactly
        these pads, else an explicit ZeroPadding layer and 'valid'."""
        pairs = tuple((w.before, w.after) for w in windows)
        if not any(b or a for b, a in pairs):
            return "valid", ()
        same = tuple(same_padding(n, w.kernel, w.stride, w.dilation) for n, w in zip(spatial, windows))
        if pairs == same:
            return "same", ()
        return "valid", keras_pad(pairs, layout, "_pad")


def keras_format(layout: Layout) -> str | None:
    """Keras's data_format argument: only written when it is not Keras's default."""
    return None if layout.channels_last else "channels_first"


def keras_pairs(pairs) -> tuple:
    """Keras's 1-D padding and cropping take one (before, after) pair, not a list of them."""
    pairs = tuple(tuple(pair) for pair in pairs)
    return pairs[0] if len(pairs) == 1 else pairs


def keras_pad(pairs, layout: Layout, suffix: str = "") -> tuple[tuple[str, Call], ...]:
    rank = len(pairs)
    return ((suffix, call(f"layers.ZeroPadding{rank}D", padding=keras_pairs(pairs), data_format=keras_format(layout))),)


def keras_crop(pairs, layout: Layout, suffix: str = "") -> tuple[tuple[str, Call], ...]:
    """A Cropping layer; Keras's Cropping1D knows only (N, L, C), so a channels_first
    input is turned around it."""
    rank = len(pairs)
    if rank == 1 and not layout.channels_last:
        return channels_last_1d(call("layers.Cropping1D", cropping=keras_pairs(pairs)), suffix)
    return ((suffix, call(f"layers.Cropping{rank}D", cropping=keras_pairs(pairs), data_format=keras_format(layout))),)


def channels_last_1d(layer: Call, suffix: str = "") -> tuple[tuple[str, Call], ...]:
    """A 1-D Keras layer that only knows (N, L, C), applied to (N, C, L)."""
    turn = call("layers.Permute", (2, 1))
    return ((suffix + "_to_last", turn), (suffix, layer), (suffix + "_to_first", turn))


def convolve(x, weight, bias, windows, groups: int, mode: str = "zeros", epilogue=None):
    """numeric.conv with the strides, paddings and dilations of these windows."""
    strides = [w.stride for w in windows]
    pairs = [(w.before, w.after) for w in windows]
    return numeric.conv(x, weight, bias, strides, pairs, [w.dilation for w in windows], groups, mode, epilogue)


def keras_turned(kernel):
    """A Keras kernel (*kernel, A, B) in PyTorch's order (B, A, *kernel)."""
    rank = kernel.ndim - 2
    return np.ascontiguousarray(kernel.transpose(rank + 1, rank, *range(rank)))


def keras_depthwise(kernel):
    """Keras's depthwise kernel (*kernel, in, multiplier) as PyTorch's (in x multiplier, 1, *kernel)."""
    rank = kernel.ndim - 2
    flat = kernel.reshape(*kernel.shape[:rank], -1)
    return np.ascontiguousarray(flat.transpose(rank, *range(rank))[:, None])


class Conv(Windowed, FusedActivation):
    """Convolution: out channels, each a sum over in / groups channels of a sliding kernel."""

    family = "convolution"
    roles = {"weight": Role.KERNEL, "bias": Role.SHIFT}
    primary = "out"
    summary = "convolution with padding, stride, dilation and groups"
    takes_epilogue = True
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

    def keras_tensors(self, arrays: list, facts: Facts) -> dict[str, Any]:
        """Keras's kernel (*kernel, A, B) is PyTorch's (B, A, *kernel): A = in / groups and
        B = out for a convolution, A = out and B = in for a transposed one; then the bias."""
        names = ("weight", "bias")[: len(arrays)]
        return self.keras_arrays([keras_turned(arrays[0]), *arrays[1:]] if arrays else [], names, facts)

    def working(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, batch: int) -> Working:
        """params = (kernel volume x in/groups + bias) x out; MACs = output positions x out x
        kernel volume x in/groups (weight (out, in/groups, *kernel))."""
        work = super().working(shapes, facts, layout, batch)
        out, per_group, *kernel = facts.params["weight"]
        bias = " + 1" if "bias" in facts.params else ""
        size = "x".join(map(str, kernel))
        macs = facts.macs * batch
        positions = macs // max(out * per_group * product(kernel), 1)
        return replace(
            work,
            params=(tr("work.conv.params", size=size, per_group=per_group, bias=bias, out=out, total=facts.param_count),),
            macs=(tr("work.conv.macs", positions=positions, out=out, size=size, per_group=per_group, macs=macs),),
        )

    def params_note(self, given: int, facts: Facts, shapes: tuple[Shape, ...]) -> str:
        """The classic slips: the bias forgotten, the input channels forgotten (a filter
        spans them all), both, or the output channels taken for the input's."""
        if "weight" not in facts.params:  # two weights (separable): no single slip to name
            return ""
        out, per_group, *kernel = facts.params["weight"]
        volume, size = product(kernel), "x".join(map(str, kernel))
        bias = 1 if "bias" in facts.params else 0
        if bias and given == volume * per_group * out:
            return tr("note.conv_no_bias", kernel=size, per_group=per_group, out=out, given=given)
        if per_group > 1 and given == (volume + bias) * out:
            return tr("note.conv_no_channels", kernel=size, per_group=per_group)
        if per_group > 1 and bias and given == volume * out:
            return tr("note.conv_no_channels_no_bias", per_group=per_group)
        if out != per_group and given == (volume * out + bias) * out:
            return tr("note.conv_out_as_in", out=out, per_group=per_group)
        return ""

    def absorb_affine(self, tensors: dict, scale, shift, layout: Layout) -> dict | None:
        """A per-channel affine map after the conv folded into it: w' = w * scale (each output
        channel), b' = b * scale + shift. Not past a fused activation."""
        if self["activation"].lower() not in ("linear", "none") or layout.channels_last:
            return None
        weight = tensors["weight"]
        folded = dict(tensors)
        folded["weight"] = (weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))).astype(weight.dtype)
        folded["bias"] = ((tensors["bias"] * scale if "bias" in tensors else 0) + shift).astype(weight.dtype)
        return folded

    def for_probing(self, tensors: dict) -> Layer:
        """Padding that copies the input (reflect, replicate, circular) pads with zeros: the
        field counts padding as padding."""
        return self.replaced(padding_mode="zeros") if self.values.get("padding_mode", "zeros") != "zeros" else self

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
        return self.finish(out_shape, params, macs, tuple(w.taps() for w in windows), warnings, layout)

    def finish(self, out_shape, params, macs, field, warnings, layout) -> Facts:
        flops = 2 * macs + (product(out_shape) if self["bias"] else 0)
        fused = self.activation_facts(out_shape, layout)
        if fused is not None:
            flops += fused.flops
        return Facts(out_shape, params, macs=macs, flops=flops, field=field, warnings=warnings)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        return self.forward_fused(inputs, params, layout, None)

    def forward_fused(self, inputs: list, params: dict, layout: Layout, epilogue, owned: bool = False):
        """Its own activation (if any) then `epilogue`, applied to each part of the output
        as the kernel writes it."""
        x = channels_first(inputs[0], layout)
        _, groups = self.channels(x.shape[1])
        fused = self.fused()
        own = fused.epilogue() if fused is not None else None
        windows, mode = self.windows(x.shape[2:]), self.values.get("padding_mode", "zeros")
        if fused is not None and own is None:  # not element-wise (softmax): over the whole output
            y = self.apply_activation(channels_back(convolve(x, params["weight"], params.get("bias"), windows, groups, mode), layout), layout)
            if epilogue is not None:
                epilogue(y)
            return y
        after = chained(own, epilogue)
        return channels_back(convolve(x, params["weight"], params.get("bias"), windows, groups, mode, after), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """A tile of gathered windows and their product, a padded sample for a padding mode
        other than zeros (kernels.conv_workspace); then the fused activation's."""
        channels, spatial = layout.split(shapes[0])
        _, groups = self.channels(channels)
        windows = self.windows(spatial)
        kernel = numeric.conv_workspace(
            (batch, channels, *spatial),
            self.infer(shapes, layout).params["weight"],
            groups,
            [w.stride for w in windows],
            [(w.before, w.after) for w in windows],
            [w.dilation for w in windows],
            self.values.get("padding_mode", "zeros"),
            itemsize,
        )
        return self.with_activation(kernel, out, layout, batch, itemsize)

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Conv (channels first) with PyTorch's weight layout; a padding mode other than
        zeros is a Pad before it (circular: see OnnxGraph.pad)."""
        from .activation import onnx_fused

        rank = len(shapes[0]) + 1
        channels, spatial = layout.split(shapes[0])
        _, groups = self.channels(channels)
        x = graph.first(inputs[0], rank, layout)
        y = self.onnx_conv(graph, x, spatial, "weight", "bias", groups)
        return onnx_fused(self, graph, graph.back(y, rank, layout), out, layout)

    def onnx_conv(self, graph, x: str, spatial: Shape, weight: str, bias: str, groups: int) -> str:
        """The Conv node of this layer's windows on a channels-first x, with the layer's
        tensors named `weight` and `bias` (the bias when it has one)."""
        windows = self.windows(spatial)
        pairs = [(w.before, w.after) for w in windows]
        mode = self.values.get("padding_mode", "zeros")
        if mode != "zeros" and any(map(any, pairs)):
            x = graph.pad(x, pairs, mode, spatial)
            pairs = [(0, 0)] * len(windows)
        args = [x, graph.weight(weight)] + ([graph.weight(bias)] if graph.has(bias) else [])
        return graph.op("Conv", args, kernel_shape=[w.kernel for w in windows], strides=[w.stride for w in windows],
                        dilations=[w.dilation for w in windows], pads=[b for b, _ in pairs] + [a for _, a in pairs], group=groups)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        channels, spatial = layout.split(shapes[0])
        windows = self.windows(spatial)
        mode = self.values.get("padding_mode", "zeros")
        padding, expression = self.torch_padding(windows, mode)
        module = self.torch_module(channels, windows, padding, mode if padding is not None else "zeros").named("in_channels", "out_channels")
        return TorchOp(module, self.torch_activation(expression, 1 if layout.channels_last else -1), CHANNELS_FIRST)

    autocast = "lower"

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """ConvolutionBackward keeps its input and its weight whichever gradient is wanted;
        an input padded before the convolution (uneven padding, a padding mode other than
        zeros) is kept as that padded copy; then what the fused activation keeps."""
        return (self.conv_input(shapes[0], layout), Saved(Keep.WEIGHT, tensor="weight"), *self.fused_saved(shapes, facts, layout, grads))

    def conv_input(self, shape: Shape, layout: Layout) -> Saved:
        """The convolution's input as PyTorch keeps it: the input itself, or its padded copy
        (explicit F.pad; padding='same' pads the uneven part; padding modes pad it all)."""
        channels, spatial = layout.split(shape)
        windows = self.windows(spatial)
        pairs = [(w.before, w.after) for w in windows]
        mode = self.values.get("padding_mode", "zeros")
        even = all(before == after for before, after in pairs)
        if even and (mode == "zeros" or not any(before for before, _ in pairs)):
            return Saved(Keep.INPUT)
        if not even and self["padding"] == "same" and all(w.stride == 1 for w in windows) and mode == "zeros":
            grown = [n + after - before for n, (before, after) in zip(spatial, pairs)]
        else:
            grown = [n + before + after for n, (before, after) in zip(spatial, pairs)]
        return Saved(Keep.NEW, channels * product(grown))

    def backward_flops(self, shapes: tuple[Shape, ...], facts: Facts, grads: Grads) -> int:
        """2 x MACs for the input's gradient (when wanted) and 2 x MACs for the weights'."""
        return 2 * facts.macs * (grads.any_input + grads.weights)

    def torch_module(self, channels: int, windows, padding, mode: str) -> Call:
        out, groups = self.channels(channels)
        return call(
            f"nn.Conv{len(windows)}d",
            channels,
            out,
            kernel_size=single(tuple(w.kernel for w in windows)),
            **self.torch_window_options(windows),
            padding=padding,
            groups=groups if groups != 1 else None,
            bias=False if not self["bias"] else None,
            padding_mode=mode if mode != "zeros" else None,
        )

    @staticmethod
    def torch_window_options(windows) -> dict:
        strides, dilations = tuple(w.stride for w in windows), tuple(w.dilation for w in windows)
        return {
            "stride": single(strides) if set(strides) != {1} else None,
            "dilation": single(dilations) if set(dilations) != {1} else None,
        }

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        channels, spatial = layout.split(shapes[0])
        windows = self.windows(spatial)
        if self.values.get("padding_mode", "zeros") != "zeros":
            raise self.fail(
                f"Keras pads convolutions only with zeros; received padding_mode='{self['padding_mode']}'; "
                "allowed for export to Keras: padding_mode='zeros' (or a pad layer before the conv)",
                "padding_mode",
            )
        strides, dilations = tuple(w.stride for w in windows), tuple(w.dilation for w in windows)
        self.keras_check_stride_dilation(strides, dilations)
        padding, before = self.keras_padding(spatial, windows, layout)
        activation, after = self.keras_activation()
        options = {
            "strides": single(strides) if set(strides) != {1} else None,
            "padding": padding if padding != "valid" else None,
            "dilation_rate": single(dilations) if set(dilations) != {1} else None,
            "use_bias": False if not self["bias"] else None,
            "activation": activation,
            "data_format": keras_format(layout),
        }
        layer = self.keras_layer(channels, single(tuple(w.kernel for w in windows)), len(windows), options)
        return KerasOp((*before, ("", layer), *after))

    def keras_check_stride_dilation(self, strides: tuple, dilations: tuple) -> None:
        if set(strides) != {1} and set(dilations) != {1}:
            raise self.fail(
                f"Keras does not combine strides > 1 with dilation > 1; received stride={show(single(strides))} "
                f"and dilation={show(single(dilations))}; allowed for export to Keras: one of them 1",
                "dilation",
            )

    def keras_layer(self, channels: int, kernel, rank: int, options: dict) -> Call:
        out, groups = self.channels(channels)
        return call(f"layers.Conv{rank}D", out, kernel, groups=groups if groups != 1 else None, **options)


class DepthwiseConv(Conv):
    """Keras's DepthwiseConv: each input channel convolved with `multiplier` kernels of its own.

    In PyTorch terms a Conv with groups = in channels and out = in x multiplier.
    """

    primary = "kernel"
    summary = "one kernel per input channel (x multiplier), Keras's DepthwiseConv"
    attributes = (KERNEL(), STRIDE(), PADDING, DILATION(), MULTIPLIER, BIAS(), PADDING_MODE, ACTIVATION(), IN_CHECK())

    def channels(self, channels: int) -> tuple[int, int]:
        return channels * self["multiplier"], channels

    def keras_tensors(self, arrays: list, facts: Facts) -> dict[str, Any]:
        """Keras's depthwise kernel (*kernel, in, multiplier) is PyTorch's grouped weight
        (in x multiplier, 1, *kernel), channel i x multiplier + m; then the bias."""
        names = ("weight", "bias")[: len(arrays)]
        return self.keras_arrays([keras_depthwise(arrays[0]), *arrays[1:]] if arrays else [], names, facts)

    def keras_layer(self, channels: int, kernel, rank: int, options: dict) -> Call:
        if rank == 3:
            raise self.fail("Keras has no 3-D depthwise convolution; allowed for export to Keras: 1-D or 2-D")
        multiplier = self["multiplier"]
        return call(f"layers.DepthwiseConv{rank}D", kernel, depth_multiplier=multiplier if multiplier != 1 else None, **options)


class SeparableConv(Conv):
    """Keras's SeparableConv: a depthwise conv (no bias) then a 1x1 pointwise conv to `out`.

    Weights as two PyTorch convs: depthwise.weight (in x m, 1, *kernel), pointwise.weight
    (out, in x m, 1, ...) and pointwise.bias (out).
    """

    takes_epilogue = False  # its own forward, not Conv.forward_fused

    summary = "depthwise conv then pointwise 1x1 conv, Keras's SeparableConv"
    roles = {"depthwise.weight": Role.KERNEL, "pointwise.weight": Role.KERNEL, "pointwise.bias": Role.SHIFT}
    attributes = (OUT(), KERNEL(), STRIDE(), PADDING, DILATION(), MULTIPLIER, BIAS(), ACTIVATION(), IN_CHECK())

    def keras_tensors(self, arrays: list, facts: Facts) -> dict[str, Any]:
        """Keras's depthwise_kernel, pointwise_kernel (*1s, in x multiplier, out) and bias, as
        the two PyTorch convs' weights."""
        names = ("depthwise.weight", "pointwise.weight", "pointwise.bias")[: len(arrays)]
        turned = [keras_depthwise(arrays[0]), keras_turned(arrays[1])] if len(arrays) >= 2 else list(arrays)
        return self.keras_arrays([*turned, *arrays[2:]], names, facts)

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
        return self.finish(out_shape, params, macs, tuple(w.taps() for w in windows), warnings, layout)

    def working(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, batch: int) -> Working:
        """The window formula per spatial size; each of the two weights by its shape."""
        return Windowed.working(self, shapes, facts, layout, batch)

    def absorb_affine(self, tensors: dict, scale, shift, layout: Layout) -> dict | None:
        return None  # two weights; not folded

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        windows = self.windows(x.shape[2:])
        middle = convolve(x, params["depthwise.weight"], None, windows, x.shape[1])
        y = convolve(middle, params["pointwise.weight"], params.get("pointwise.bias"), [Window(1)] * len(windows), 1)
        return self.apply_activation(channels_back(y, layout), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The depthwise result, kept while the pointwise conv and the fused activation run,
        and each conv's own tile (kernels.conv_workspace)."""
        channels, spatial = layout.split(shapes[0])
        windows = self.windows(spatial)
        params = self.infer(shapes, layout).params
        out_spatial = layout.split(out)[1]
        middle_shape = (batch, channels * self["multiplier"], *out_spatial)
        rank = len(spatial)
        depthwise = numeric.conv_workspace(
            (batch, channels, *spatial), params["depthwise.weight"], channels, [w.stride for w in windows],
            [(w.before, w.after) for w in windows], [w.dilation for w in windows], "zeros", itemsize,
        )
        pointwise = numeric.conv_workspace(middle_shape, params["pointwise.weight"], 1, [1] * rank, [(0, 0)] * rank, [1] * rank, "zeros", itemsize)
        result = nbytes(out, batch, itemsize)
        middle = product(middle_shape) * itemsize
        return middle + self.with_activation(max(depthwise - result, pointwise), out, layout, batch, itemsize)

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """Two convolutions, each keeping its input and weight: the (padded) input, the
        depthwise result between them; then the fused activation's."""
        middle = facts.params["pointwise.weight"][1]
        positions = product(layout.split(facts.output_shape)[1])
        return (
            self.conv_input(shapes[0], layout), Saved(Keep.WEIGHT, tensor="depthwise.weight"),
            Saved(Keep.NEW, middle * positions), Saved(Keep.WEIGHT, tensor="pointwise.weight"),
            *self.fused_saved(shapes, facts, layout, grads),
        )

    def backward_flops(self, shapes: tuple[Shape, ...], facts: Facts, grads: Grads) -> int:
        """Pointwise: 2 x its MACs for the depthwise result's gradient and 2 x for its
        weights'; depthwise: the same for the input's (when wanted) and its weights'."""
        out, middle = facts.params["pointwise.weight"][:2]
        kernel = product(facts.params["depthwise.weight"][2:])
        positions = facts.macs // (middle * (kernel + out))
        pointwise, depthwise = positions * middle * out, positions * middle * kernel
        middle_grad = grads.any_input or grads.weights
        return 2 * pointwise * (grads.weights + middle_grad) + 2 * depthwise * (grads.any_input + grads.weights)
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Two Convs: the depthwise one (groups = input channels, no bias) with the windows,
        then the pointwise 1x1 with the bias."""
        from .activation import onnx_fused

        rank = len(shapes[0]) + 1
        channels, spatial = layout.split(shapes[0])
        x = graph.first(inputs[0], rank, layout)
        middle = self.onnx_conv(graph, x, spatial, "depthwise.weight", "depthwise.bias", channels)
        ones = [1] * len(spatial)
        args = [middle, graph.weight("pointwise.weight")] + ([graph.weight("pointwise.bias")] if graph.has("pointwise.bias") else [])
        y = graph.op("Conv", args, kernel_shape=ones, strides=ones, dilations=ones, pads=[0, 0] * len(spatial), group=1)
        return onnx_fused(self, graph, graph.back(y, rank, layout), out, layout)

    def torch_module(self, channels: int, windows, padding, mode: str) -> Call:
        """The SeparableConv helper module: depthwise then pointwise, PyTorch's names."""
        multiplier = self["multiplier"]
        return call(
            "SeparableConv",
            Raw(f"nn.Conv{len(windows)}d"),
            channels,
            self["out"],
            kernel_size=single(tuple(w.kernel for w in windows)),
            multiplier=multiplier if multiplier != 1 else None,
            **self.torch_window_options(windows),
            padding=padding,
            bias=False if not self["bias"] else None,
        )

    def keras_layer(self, channels: int, kernel, rank: int, options: dict) -> Call:
        if rank == 3:
            raise self.fail("Keras has no 3-D separable convolution; allowed for export to Keras: 1-D or 2-D")
        multiplier = self["multiplier"]
        return call(
            f"layers.SeparableConv{rank}D", self["out"], kernel, depth_multiplier=multiplier if multiplier != 1 else None, **options
        )


class ConvTranspose(Conv):
    """Transposed convolution (the gradient of a conv): upsamples by the stride.

    Integer padding follows PyTorch: out = (in - 1)*s - before - after + d*(k - 1) + 1 +
    output_padding. 'valid' and 'same' follow Keras's Conv*DTranspose.
    """

    takes_epilogue = False  # its own forward, not Conv.forward_fused

    summary = "transposed convolution (PyTorch padding, or Keras 'same'/'valid')"
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
        windows = self.transposed_windows(spatial)
        sizes = []
        for n, window, dim in zip(spatial, windows, SPATIAL_NAMES[len(spatial)]):
            size = window.output_size(n)
            if size < 1:
                raise self.fail(
                    f"the output would have {size} positions along {dim}: the padding "
                    f"removes more than (in - 1)*stride + kernel span = {window.full_size(n)}; "
                    f"received input {self.received(shape)}; allowed: less padding",
                    "padding",
                )
            sizes.append(size)
        taps = [window.taps() for window in windows]
        params = {"weight": (channels, out // groups, *kernel)}
        if self["bias"]:
            params["bias"] = (out,)
        macs = product(shape) * (out // groups) * product(kernel)
        return self.finish(layout.join(out, sizes), params, macs, tuple(taps), (), layout)


    def geometry(self, spatial: Shape) -> list[tuple[int, int, int, int, int, int, int]]:
        """Per dimension (n, k, s, d, before, after, output_padding): transposed_windows as tuples."""
        return [(n, w.kernel, w.stride, w.dilation, w.before, w.after, w.output_padding)
                for n, w in zip(spatial, self.transposed_windows(spatial))]

    def transposed_windows(self, spatial: Shape) -> tuple[TransposedWindow, ...]:
        """One window per dimension in PyTorch's terms: the output is positions [before,
        full - after + output_padding) of the full-length result; Keras's 'same'/'valid'
        become the crop that gives Keras's size."""
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
                after = TransposedWindow(k, s, d).full_size(n) - before - size
                result.append(TransposedWindow(k, s, d, before, after, 0))
            else:
                result.append(TransposedWindow(k, s, d, *pairs[i], extra[i]))
        return tuple(result)

    def working(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, batch: int) -> Working:
        """out = (in - 1)*s - before - after + d*(k - 1) + 1 + output_padding per spatial size;
        params = kernel volume x out/groups x in (+ bias); MACs = input elements x out/groups
        x kernel volume (weight (in, out/groups, *kernel))."""
        spatial = layout.split(shapes[0])[1]
        names = SPATIAL_NAMES.get(len(spatial), ())
        lines = tuple(window.working(n, dim) for n, window, dim in zip(spatial, self.transposed_windows(spatial), names))
        first, second, *kernel = facts.params["weight"]
        size = "x".join(map(str, kernel))
        biases = f" + bias {facts.params['bias'][0]}" if "bias" in facts.params else ""
        return Working(
            output_shape=lines,
            params=(tr("work.transposed.params", size=size, second=second, first=first, biases=biases, total=facts.param_count),),
            macs=(tr("work.transposed.macs", second=second, size=size, macs=facts.macs * batch),),
        )

    def params_note(self, given: int, facts: Facts, shapes: tuple[Shape, ...]) -> str:
        """The bias forgotten (weight (in, out/groups, *kernel) alone)."""
        first, second, *kernel = facts.params["weight"]
        if "bias" in facts.params and given == product(facts.params["weight"]):
            return tr("note.transposed_no_bias", size="x".join(map(str, kernel)), second=second, first=first, given=given,
                      out=facts.params["bias"][0])
        return ""

    def absorb_affine(self, tensors: dict, scale, shift, layout: Layout) -> dict | None:
        return None  # weight (in, out/groups, ...): not folded

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        windows = self.transposed_windows(x.shape[2:])
        _, groups = self.channels(x.shape[1])
        y = numeric.conv_transpose(
            x,
            params["weight"],
            params.get("bias"),
            [w.stride for w in windows],
            [(w.before, w.after) for w in windows],
            [w.dilation for w in windows],
            groups,
            [w.output_padding for w in windows],
        )
        return self.apply_activation(channels_back(y, layout), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """A tile of W^T x for every tap (kernels.conv_transpose_workspace); then the fused
        activation's."""
        channels, spatial = layout.split(shapes[0])
        _, groups = self.channels(channels)
        weight = self.infer(shapes, layout).params["weight"]
        kernel = numeric.conv_transpose_workspace((batch, channels, *spatial), weight, groups, itemsize)
        return self.with_activation(kernel, out, layout, batch, itemsize)

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """ConvolutionBackward keeps its input and its weight; then the fused activation's."""
        return (Saved(Keep.INPUT), Saved(Keep.WEIGHT, tensor="weight"), *self.fused_saved(shapes, facts, layout, grads))

    def torch_storage(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout) -> int | None:
        """PyTorch's result before the crop that uneven padding needs (see torch())."""
        channels, spatial = layout.split(shapes[0])
        out_channels, _ = self.channels(channels)
        sizes = []
        for n, k, s, d, before, after, extra in self.geometry(spatial):
            p = min(before, after)
            sizes.append((n - 1) * s - 2 * p + d * (k - 1) + max(0, extra + p - after) + 1)
        full = out_channels * product(sizes)
        return full if full != product(facts.output_shape) else None
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """ConvTranspose: ONNX's pads crop the full result as cnncalc's windows do
        (positions [before, full - after + output_padding)). onnxruntime refuses an
        output_padding not below the stride (PyTorch allows it below the dilation too), and
        pads cannot be negative (Keras's 'same' may reach past the full result): then the
        full result, zeros past its end, sliced, and the bias added."""
        from .activation import onnx_fused

        rank = len(shapes[0]) + 1
        channels, spatial = layout.split(shapes[0])
        _, groups = self.channels(channels)
        windows = self.transposed_windows(spatial)
        x = graph.first(inputs[0], rank, layout)
        options = dict(kernel_shape=[w.kernel for w in windows], strides=[w.stride for w in windows],
                       dilations=[w.dilation for w in windows], group=groups)
        if all(w.before >= 0 and w.after >= 0 and w.output_padding < w.stride for w in windows):
            args = [x, graph.weight("weight")] + ([graph.weight("bias")] if graph.has("bias") else [])
            y = graph.op("ConvTranspose", args, pads=[w.before for w in windows] + [w.after for w in windows],
                         output_padding=[w.output_padding for w in windows], **options)
            return onnx_fused(self, graph, graph.back(y, rank, layout), out, layout)
        y = graph.op("ConvTranspose", [x, graph.weight("weight")], pads=[0, 0] * len(windows), **options)
        full = [w.full_size(n) for w, n in zip(windows, spatial)]
        ends = [size - w.after + w.output_padding for w, size in zip(windows, full)]
        pairs = [(max(0, -w.before), max(0, end - size)) for w, end, size in zip(windows, ends, full)]
        if any(map(any, pairs)):
            y = graph.pad(y, pairs, "constant", full)
        y = graph.slice(y, [w.before + lo for w, (lo, _) in zip(windows, pairs)], [end + lo for end, (lo, _) in zip(ends, pairs)],
                        list(range(2, rank)))
        if graph.has("bias"):
            y = graph.op("Add", [y, graph.weight("bias", graph.along_channels(graph.tensor("bias"), rank, Layout()))])
        return onnx_fused(self, graph, graph.back(y, rank, layout), out, layout)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        """PyTorch pads both sides alike: pad by the smaller side, crop the rest exactly.

        Wanted: positions [before, full - after + extra) of the full result. With padding
        p = min(before, after) and output_padding q = max(0, extra + p - after), PyTorch
        gives [p, full - p + q), which contains them; a slice keeps exactly those."""
        channels, spatial = layout.split(shapes[0])
        out_channels, groups = self.channels(channels)
        _, out_spatial = layout.split(out)
        paddings, extras, crops = [], [], []
        for (n, k, s, d, before, after, extra), size in zip(self.geometry(spatial), out_spatial):
            p = min(before, after)
            q = max(0, extra + p - after)
            paddings.append(p)
            extras.append(q)
            crops.append((before - p, size))
        strides, dilations = self.per_dim("stride", len(spatial)), self.per_dim("dilation", len(spatial))
        module = call(
            f"nn.ConvTranspose{len(spatial)}d",
            channels,
            out_channels,
            kernel_size=single(self.per_dim("kernel", len(spatial))),
            stride=single(strides) if set(strides) != {1} else None,
            padding=single(tuple(paddings)) if any(paddings) else None,
            output_padding=single(tuple(extras)) if any(extras) else None,
            groups=groups if groups != 1 else None,
            bias=False if not self["bias"] else None,
            dilation=single(dilations) if set(dilations) != {1} else None,
        ).named("in_channels", "out_channels")
        expression = "{m}({x})"
        full = [(n - 1) * s + d * (k - 1) + 1 - p * 2 + q for (n, k, s, d, *_), p, q in zip(self.geometry(spatial), paddings, extras)]
        if any(start or size != length for (start, size), length in zip(crops, full)):
            expression += "[:, :, " + ", ".join(f"{start}:{start + size}" for start, size in crops) + "]"
        return TorchOp(module, self.torch_activation(expression, 1 if layout.channels_last else -1), CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        """Keras's own 'same'/'valid' as written; PyTorch's padding as 'valid' with an
        output_padding, then a Cropping layer (exact)."""
        channels, spatial = layout.split(shapes[0])
        rank = len(spatial)
        if self["groups"] != 1:
            raise self.fail(
                f"Keras's transposed convolutions have no groups; received groups={self['groups']}; allowed for "
                "export to Keras: groups=1",
                "groups",
            )
        strides, dilations = self.per_dim("stride", rank), self.per_dim("dilation", rank)
        self.keras_check_stride_dilation(strides, dilations)
        activation, after_layers = self.keras_activation()
        if isinstance(self["padding"], str):
            padding, extra, crop = self["padding"], self["output_padding"], None
        else:
            extras, pairs = [], []
            for n, k, s, d, before, after, wanted in self.geometry(spatial):
                q = max(0, wanted - after)
                if q >= s:
                    raise self.fail(
                        f"this output_padding and padding need output_padding {q} in Keras, which allows less "
                        f"than the stride {s}; allowed for export to Keras: output_padding - padding < stride",
                        "output_padding",
                    )
                extras.append(q)
                pairs.append((before, after + q - wanted))
            padding, extra = "valid", single(tuple(extras))
            crop = pairs if any(b or a for b, a in pairs) else None
        layer = call(
            f"layers.Conv{rank}DTranspose",
            self["out"],
            single(self.per_dim("kernel", rank)),
            strides=single(strides) if set(strides) != {1} else None,
            padding=padding if padding != "valid" else None,
            output_padding=single(extra) if isinstance(extra, tuple) else extra,
            dilation_rate=single(dilations) if set(dilations) != {1} else None,
            use_bias=False if not self["bias"] else None,
            activation=activation if crop is None else None,
            data_format=keras_format(layout),
        )
        layers = [("", layer)]
        if crop is not None:
            layers.extend(keras_crop(crop, layout, "_crop"))
            if activation is not None:
                layers.append(("_activation", call("layers.Activation", activation)))
        return KerasOp((*layers, *after_layers))

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
