"""Pooling: windowed (max, average), adaptive and global, for 1-D, 2-D and 3-D.

Windowed pooling follows PyTorch: stride defaults to the kernel, padding is symmetric and
at most half the kernel, `ceil_mode` rounds up but never starts a window in the right
padding. 'same' and 'valid' follow TensorFlow. FLOPs per output element: max pooling
kernel volume - 1 comparisons; average pooling kernel volume - 1 additions and a division;
L_p pooling (PyTorch's LPPool) kernel volume powers, volume - 1 additions and a root.
"""

from __future__ import annotations

from dataclasses import replace
from math import gcd

from .attrs import DILATION, KERNEL, STRIDE, Attr, Flag, Number, OutputSize, Padding, show
from .windows import Taps, Window
from .lazy import numeric
from .base import GLOBAL, REGISTRY, SPATIAL_NAMES, Facts, Grads, Keep, Layout, Saved, Shape, channels_back, channels_first, product
from .code import CHANNELS_FIRST, Call, KerasOp, Raw, TorchOp, call, single, torch_pad
from .lazy import np
from .conv import Windowed, keras_format, keras_pad

POOL_PADDING = Attr(
    "padding",
    Padding(pairs=False),
    0,
    ("p",),
    "symmetric zeros (at most half the kernel), per dimension, 'same' (TensorFlow) or 'valid'",
)
KERAS_REDUCTION = {"max": "Max", "avg": "Average"}  # Keras's class-name spelling
CEIL_MODE = Attr("ceil_mode", Flag(), False, (), "round the window count up (PyTorch)")


class Pool(Windowed):
    """Slides a window and reduces each to one value, channel by channel."""

    family = "pooling"
    primary = "kernel"
    reduce_cost = 0  # operations per window besides the kernel volume - 1
    reduction = "max"  # or "avg": what each window becomes

    def check(self) -> None:
        if self["ceil_mode"] and isinstance(self["padding"], str):
            raise self.fail(
                f"ceil_mode applies to PyTorch's numeric padding, not to '{self['padding']}'; "
                "allowed: ceil_mode with an integer padding, or 'same' without ceil_mode",
                "ceil_mode",
            )

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_input(shape, layout)
        windows = self.windows(spatial)
        if not isinstance(self["padding"], str):
            for w, dim in zip(windows, SPATIAL_NAMES[len(spatial)]):
                limit = self.padding_limit(w)
                if w.before > limit:
                    raise self.fail(
                        f"padding {w.before} along {dim} is more than half the kernel; allowed: at most "
                        f"{limit} for kernel {w.kernel} (PyTorch's limit)",
                        "padding",
                    )
        self.check_input_size(shape, spatial, windows)
        out_spatial, warnings = self.slide(shape, spatial, windows)
        out_shape = layout.join(channels, out_spatial)
        volume = product(w.kernel for w in windows)
        flops = product(out_shape) * (volume - 1 + self.reduce_cost)
        return Facts(out_shape, flops=flops, field=tuple(w.taps() for w in windows), warnings=warnings)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        spatial = x.shape[2:]
        windows = self.windows(spatial)
        extra = []
        for n, w in zip(spatial, windows):  # ceil mode reads past the padding on the right
            out = w.output_size(n)
            extra.append(max(0, (out - 1) * w.stride + w.extent - w.padded(n)))
        kind = self.reduction
        include = bool(self.values.get("count_include_pad")) and not isinstance(self["padding"], str)
        y = numeric.pool(
            x,
            [w.kernel for w in windows],
            [w.stride for w in windows],
            [(w.before, w.after) for w in windows],
            [w.dilation for w in windows],
            extra,
            kind,
            include,
        )
        return channels_back(y.astype(x.dtype, copy=False), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """Padding is never built; an average's divisor (kernels.pool_workspace)."""
        spatial = layout.split(shapes[0])[1]
        kernel = [w.kernel for w in self.windows(spatial)]
        return numeric.pool_workspace(kernel, layout.split(out)[1], self.reduction, itemsize)

    @property
    def autocast(self) -> str:
        """3-D max and average pooling (also adaptive) are on torch.autocast's CPU float32 list."""
        return "float32" if self.rank == 3 else "keep"

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """Max pooling keeps its input and the int64 index of each output's maximum; average
        pooling its input. TensorFlow's uneven 'same' pads a copy first (see torch()), which
        is what is kept; the average then divides by a count of the positions, kept too."""
        channels, spatial = layout.split(shapes[0])
        pairs = [(w.before, w.after) for w in self.windows(spatial)]
        kept: list[Saved] = [Saved(Keep.INPUT)]
        if isinstance(self["padding"], str) and any(b != a for b, a in pairs):
            kept = [Saved(Keep.NEW, channels * product(n + b + a for n, (b, a) in zip(spatial, pairs)))]
            if self.reduction != "max":
                kept.append(Saved(Keep.NEW, product(layout.split(facts.output_shape)[1]), batched=False))
        if self.reduction == "max":
            kept.append(Saved(Keep.NEW, product(facts.output_shape), "int64"))
        return tuple(kept)
    def onnx_overhang(self, spatial: Shape) -> list[int]:
        """Per dimension, how far ceil_mode's last window reaches past the padding. ONNX's
        ceil_mode does not drop a last window that would start in the right padding, as
        PyTorch does (onnx's shape inference disagrees with onnxruntime there): the forms
        use floor mode with this much more padding on the right, which gives PyTorch's count."""
        return [max(0, (w.output_size(n) - 1) * w.stride + w.extent - w.padded(n)) for n, w in zip(spatial, self.windows(spatial))]

    def onnx_padding_only(self, spatial: Shape) -> bool:
        """Whether some window reads padding alone (a dilated one can step over the input)."""
        for n, w in zip(spatial, self.windows(spatial)):
            for i in range(w.output_size(n)):
                if not any(0 <= i * w.stride - w.before + j * w.dilation < n for j in range(w.kernel)):
                    return True
        return False

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """MaxPool or AveragePool (channels first); TensorFlow's 'same' average leaves the
        padding out of the count, as count_include_pad=0 does. PyTorch's average counts its
        padding but not ceil_mode's overhang: where there is one, the padding is a Pad of
        zeros before, and only real values are counted. Max pooling pads with -inf."""
        rank = len(shapes[0]) + 1
        spatial = layout.split(shapes[0])[1]
        windows = self.windows(spatial)
        overhang = self.onnx_overhang(spatial)
        pairs = [(w.before, w.after + more) for w, more in zip(windows, overhang)]
        x = graph.first(inputs[0], rank, layout)
        include = self.reduction != "max" and bool(self.values.get("count_include_pad")) and not isinstance(self["padding"], str)
        if include and any(overhang):
            x = graph.pad(x, [(w.before, w.after) for w in windows], "constant", spatial)
            pairs, include = [(0, more) for more in overhang], False
        elif self.reduction == "max" and (any(a >= w.kernel for w, (_, a) in zip(windows, pairs))
                                          or self.onnx_padding_only(spatial)):
            # onnxruntime wants pads below the kernel (a dilated window's overhang may not
            # be), and gives a window of padding alone the lowest float, not PyTorch's -inf
            x = graph.pad(x, pairs, "constant", spatial, float("-inf"))
            pairs = [(0, 0)] * len(windows)
        options = dict(kernel_shape=[w.kernel for w in windows], strides=[w.stride for w in windows],
                       pads=[b for b, _ in pairs] + [a for _, a in pairs])
        if self.reduction == "max":
            y = graph.op("MaxPool", [x], dilations=[w.dilation for w in windows], **options)
        else:
            y = graph.op("AveragePool", [x], count_include_pad=int(include), **options)
        return graph.back(y, rank, layout)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        """PyTorch's pooling as written; TensorFlow's 'same' as symmetric padding where it
        is, else an explicit pad (-inf for max; for average a ratio of sums so that, as in
        TensorFlow, the padding is not counted)."""
        _, spatial = layout.split(shapes[0])
        windows = self.windows(spatial)
        kind = self.reduction.capitalize()
        pairs = [(w.before, w.after) for w in windows]
        expression = "{m}({x})"
        options: dict = {}
        if isinstance(self["padding"], str):
            options["count_include_pad"] = False if kind == "Avg" and any(b for b, _ in pairs) else None
            if all(b == a for b, a in pairs):
                options["padding"] = single(tuple(b for b, _ in pairs)) or None
            elif kind == "Max":
                expression = f"{{m}}(F.pad({{x}}, {torch_pad(pairs)}, value=float('-inf')))"
            else:
                options["count_include_pad"] = None
                pads = torch_pad(pairs)
                expression = f"{{m}}(F.pad({{x}}, {pads})) / {{m}}(F.pad(torch.ones_like({{x}}[:1, :1]), {pads}))"
        else:
            options["padding"] = single(tuple(b for b, _ in pairs)) or None
            options["ceil_mode"] = True if self["ceil_mode"] else None
            if kind == "Avg" and not self["count_include_pad"] and options["padding"]:
                options["count_include_pad"] = False
        stride = None if self["stride"] is None else single(tuple(w.stride for w in windows))
        dilations = tuple(w.dilation for w in windows)
        if kind == "Max":
            options["dilation"] = single(dilations) if set(dilations) != {1} else None
        kernel = single(tuple(w.kernel for w in windows))
        module = call(f"nn.{kind}Pool{len(spatial)}d", kernel, stride=stride, **options).named("kernel_size")
        return TorchOp(module, expression, CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        """Keras pools with 'valid' or 'same'. PyTorch's padding becomes 'same' where the pads
        agree, else a pad layer (zeros for average with the padding counted, -inf for max)."""
        _, spatial = layout.split(shapes[0])
        windows = self.windows(spatial)
        rank = len(spatial)
        is_max = self.reduction == "max"
        if any(w.dilation != 1 for w in windows):
            raise self.fail("Keras's pooling has no dilation; allowed for export to Keras: dilation=1", "dilation")
        # ceil_mode's last window reads past the padding: for max pooling that is more -inf
        # on the right, for average pooling PyTorch's divisor has no Keras equivalent.
        extra = [max(0, (w.output_size(n) - 1) * w.stride + w.extent - w.padded(n)) for w, n in zip(windows, spatial)]
        if any(extra) and not is_max:
            raise self.fail(
                "Keras has no ceil_mode, and here it adds a window; allowed for export to Keras: "
                "ceil_mode=false, or sizes where it makes no difference",
                "ceil_mode",
            )
        pairs = tuple((w.before, w.after + more) for w, more in zip(windows, extra))
        before: tuple = ()
        if isinstance(self["padding"], str) or not any(b or a for b, a in pairs):
            padding = self["padding"] if isinstance(self["padding"], str) else "valid"
        elif not is_max and self["count_include_pad"]:
            padding = "valid"
            before = keras_pad(pairs, layout, "_pad")
        elif is_max:
            padding = "valid"
            before = (("_pad", call("MaxPoolPadding", pairs, data_format=keras_format(layout))),)
        else:
            raise self.fail(
                "Keras's average pooling counts either all of its padding or, with 'same', none of TensorFlow's; "
                "received count_include_pad=false with padding "
                f"{show(self['padding'])}; allowed for export to Keras: count_include_pad=true, or padding 'same'",
                "count_include_pad",
            )
        strides = tuple(w.stride for w in windows)
        layer = call(
            f"layers.{KERAS_REDUCTION[self.reduction]}Pooling{rank}D",
            single(tuple(w.kernel for w in windows)),
            strides=single(strides),
            padding=padding if padding != "valid" else None,
            data_format=keras_format(layout),
        )
        return KerasOp((*before, ("", layer)))

    def padding_limit(self, window) -> int:
        """PyTorch: padding at most half the kernel (not the dilated span)."""
        return window.kernel // 2

    def check_input_size(self, shape: Shape, spatial: Shape, windows) -> None:
        """Only PyTorch's 3-D average pooling demands an unpadded input at least the kernel."""


class MaxPool(Pool):
    """The largest value in each window."""

    summary = "maximum over each window (padding, dilation, ceil_mode)"
    flops_rule = "(kernel volume - 1) comparisons per output element"
    attributes = (KERNEL(), STRIDE(None, "step between windows (default: the kernel)"), POOL_PADDING, DILATION(), CEIL_MODE)


class AvgPool(Pool):
    reduction = "avg"
    """The mean of each window."""

    summary = "mean over each window (padding, ceil_mode, count_include_pad)"
    flops_rule = "kernel volume per output element: (volume - 1) additions and a division"
    reduce_cost = 1
    attributes = (
        KERNEL(),
        STRIDE(None, "step between windows (default: the kernel)"),
        POOL_PADDING,
        CEIL_MODE,
        Attr("count_include_pad", Flag(), True, (), "divide by the full window, padding included (PyTorch)"),
    )

    def check_input_size(self, shape: Shape, spatial: Shape, windows) -> None:
        if isinstance(self["padding"], str):
            return  # TensorFlow's 'same'/'valid': no such limit in Keras
        if len(spatial) == 3 and any(n < w.kernel for n, w in zip(spatial, windows)):
            raise self.fail(
                f"the input {self.received(shape)} is smaller than the kernel {[w.kernel for w in windows]}; "
                "PyTorch's 3-D average pooling needs the input, before padding, at least as large as the kernel",
                "kernel",
            )


class LPPool(Pool):
    """(sum of x^p over each window)^(1/p), PyTorch's LPPool (the course's L2-norm pooling for
    p = 2): no padding; stride defaults to the kernel; ceil_mode as for average pooling, whose
    divisor PyTorch then undoes with the full window's volume."""

    reduction = "lp"
    summary = "L_p norm of each window: (sum x^p)^(1/p) (PyTorch LPPool; p = 2: L2-norm pooling)"
    flops_rule = "per output element: kernel volume powers, (volume - 1) additions and one root = 2 x volume"
    reduce_cost = 1
    attributes = (
        Attr("norm_type", Number(describe="a positive number"), None, ("p", "norm"), "the power p"),
        KERNEL(),
        STRIDE(None, "step between windows (default: the kernel)"),
        CEIL_MODE,
    )

    def check(self) -> None:
        if self["norm_type"] is None:
            raise self.fail("missing the required attribute 'norm_type'; allowed: e.g. lppool2d: {norm_type: 2, kernel: 2}")
        if self["norm_type"] <= 0:
            raise self.fail(
                f"norm_type must be positive; received norm_type={self['norm_type']:g}; allowed: a positive number (2: the L2 norm)",
                "norm_type",
            )
        self.values = {**self.values, "padding": 0}  # PyTorch's LPPool never pads

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        facts = super().infer(shapes, layout)
        volume = product(self.per_dim("kernel", len(shapes[0]) - 1))
        return replace(facts, flops=product(facts.output_shape) * 2 * volume)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        """As torch.nn.functional.lp_pool: avg_pool(x^p) x volume, then ^(1/p) (a negative
        sum under an odd or fractional p gives NaN there too)."""
        x = channels_first(inputs[0], layout)
        windows = self.windows(x.shape[2:])
        extra = [max(0, (w.output_size(n) - 1) * w.stride + w.extent - w.padded(n)) for n, w in zip(x.shape[2:], windows)]
        p = self["norm_type"]
        with np.errstate(invalid="ignore"):
            powered = np.power(x, x.dtype.type(p))
            mean = numeric.pool(powered, [w.kernel for w in windows], [w.stride for w in windows], [(0, 0)] * len(windows),
                                [1] * len(windows), extra, "avg", True)
            del powered
            y = mean.astype(x.dtype, copy=False)
            y *= x.dtype.type(product(w.kernel for w in windows))
            np.power(y, x.dtype.type(1.0 / p), out=y)
        return channels_back(y, layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The input to the power p and the average's divisor; the rest is done in the output."""
        spatial = layout.split(shapes[0])[1]
        kernel = [w.kernel for w in self.windows(spatial)]
        powered = batch * product(shapes[0]) * itemsize
        return powered + numeric.pool_workspace(kernel, layout.split(out)[1], "avg", itemsize)

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """F.lp_pool's chain: pow keeps its input, the average pool keeps x^p, and sign, abs,
        relu, their product and the final root keep four output-sized tensors."""
        out = product(facts.output_shape)
        return (Saved(Keep.INPUT), Saved(Keep.NEW, product(shapes[0])), *(Saved(Keep.NEW, out) for _ in range(4)))

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        rank = len(shapes[0]) - 1
        windows = self.windows(layout.split(shapes[0])[1])
        p = self["norm_type"]
        module = call(
            f"nn.LPPool{rank}d",
            int(p) if p == int(p) else p,
            single(tuple(w.kernel for w in windows)),
            None if self["stride"] is None else single(tuple(w.stride for w in windows)),
            ceil_mode=True if self["ceil_mode"] else None,
        ).named("norm_type", "kernel_size", "stride")
        return TorchOp(module, wants=CHANNELS_FIRST)

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """LpPool for an even whole p where ceil_mode adds no window (ONNX's norm takes |x|,
        the same for even powers). Else PyTorch's own chain: x^p, averaged over each window
        (ceil_mode's last window by the positions it reads, as PyTorch divides: see
        onnx_overhang), times the kernel volume, to the power 1/p (NaN for a negative sum,
        as in PyTorch)."""
        rank = len(shapes[0]) + 1
        spatial = layout.split(shapes[0])[1]
        windows = self.windows(spatial)
        kernel, strides = [w.kernel for w in windows], [w.stride for w in windows]
        p = float(self["norm_type"])
        x = graph.first(inputs[0], rank, layout)
        overhang = self.onnx_overhang(spatial)
        if p == int(p) and int(p) % 2 == 0 and not any(overhang):
            y = graph.op("LpPool", [x], p=int(p), kernel_shape=kernel, strides=strides, pads=[0, 0] * len(kernel))
            return graph.back(y, rank, layout)
        powered = graph.op("Pow", [x, graph.const(p, "float32")])
        mean = graph.op("AveragePool", [powered], kernel_shape=kernel, strides=strides, pads=[0] * len(kernel) + overhang,
                        count_include_pad=0)
        total = graph.op("Mul", [mean, graph.const(float(product(kernel)), "float32")])
        return graph.back(graph.op("Pow", [total, graph.const(1.0 / p, "float32")]), rank, layout)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        spatial = layout.split(shapes[0])[1]
        windows = self.windows(spatial)
        if any(w.output_size(n) != Window(w.kernel, w.stride).output_size(n) for w, n in zip(windows, spatial)):
            raise self.fail(
                "Keras has no ceil_mode, and here it adds a window; allowed for export to Keras: ceil_mode=false, "
                "or sizes where it makes no difference",
                "ceil_mode",
            )
        layer = call(
            "LPPool",
            self["norm_type"],
            tuple(w.kernel for w in windows),
            tuple(w.stride for w in windows),
            data_format=keras_format(layout) or "channels_last",
        )
        return KerasOp((("", layer),))


class AdaptivePool(Pool):
    """Pools to a fixed output size; bin i spans floor(i*n/out) to ceil((i+1)*n/out)."""

    primary = "output_size"
    attributes = (Attr("output_size", OutputSize(), None, ("size", "output"), "output size (null keeps a dimension)"),)

    def check(self) -> None:
        if self["output_size"] is None:
            raise self.fail("missing the required attribute 'output_size'; allowed: e.g. output_size: 7")

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_input(shape, layout)
        wanted = self.per_dim("output_size", len(spatial))
        sizes = tuple(n if m is None else m for n, m in zip(spatial, wanted))
        # Bins of one dimension cover n + m - gcd(n, m) positions in all (each bin i spans
        # floor(i*n/m) to ceil((i+1)*n/m); the overlaps add m - gcd(n, m)).
        bin_sums = [n + m - gcd(n, m) for n, m in zip(spatial, sizes)]
        taps = [adaptive_taps(n, m) for n, m in zip(spatial, sizes)]
        out_shape = layout.join(channels, sizes)
        # Sum over output positions of (bin volume - 1 + reduce_cost); volumes are separable.
        flops = channels * (product(bin_sums) + (self.reduce_cost - 1) * product(sizes))
        return Facts(out_shape, flops=flops, field=tuple(taps))

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        wanted = self.per_dim("output_size", x.ndim - 2)
        sizes = [n if m is None else m for n, m in zip(x.shape[2:], wanted)]
        kind = self.reduction
        return channels_back(numeric.adaptive_pool(x, sizes, kind).astype(x.dtype, copy=False), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The result along the first axes while the next is pooled (kernels.adaptive_pool_workspace)."""
        channels, spatial = layout.split(shapes[0])
        return numeric.adaptive_pool_workspace((batch, channels, *spatial), layout.split(out)[1], itemsize)


    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """Its input; adaptive max pooling also the int64 index of each maximum. Average
        pooling to one position per channel is a mean in PyTorch: nothing kept."""
        if self.reduction != "max" and product(layout.split(facts.output_shape)[1]) == 1:
            return ()
        indices = (Saved(Keep.NEW, product(facts.output_shape), "int64"),) if self.reduction == "max" else ()
        return (Saved(Keep.INPUT), *indices)
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Where each output size divides the input's, the bins are windows of in/out at
        stride in/out: a plain pool. Else one axis at a time (a mean or maximum over a box
        is that over each of its axes in turn): each bin a Slice reduced along the axis, the
        bins concatenated."""
        rank = len(shapes[0]) + 1
        spatial, sizes = layout.split(shapes[0])[1], layout.split(out)[1]
        x = graph.first(inputs[0], rank, layout)
        if not any(n % m for n, m in zip(spatial, sizes)):
            steps = [n // m for n, m in zip(spatial, sizes)]
            y = graph.op("MaxPool" if self.reduction == "max" else "AveragePool", [x], kernel_shape=steps, strides=steps)
            return graph.back(y, rank, layout)
        reduce = "ReduceMax" if self.reduction == "max" else "ReduceMean"
        for axis, (n, m) in enumerate(zip(spatial, sizes), start=2):
            if n != m:
                bins = [graph.reduce(reduce, graph.slice(x, [i * n // m], [-(-(i + 1) * n // m)], [axis]), [axis])
                        for i in range(m)]
                x = graph.op("Concat", bins, axis=axis)
        return graph.back(x, rank, layout)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        kind = self.reduction.capitalize()
        sizes = layout.split(out)[1]
        return TorchOp(call(f"nn.Adaptive{kind}Pool{len(sizes)}d", single(sizes)).named("output_size"), wants=CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        kind = KERAS_REDUCTION[self.reduction]
        sizes = layout.split(out)[1]
        return KerasOp((("", call(f"layers.Adaptive{kind}Pooling{len(sizes)}D", single(sizes), data_format=keras_format(layout))),))


def adaptive_taps(n: int, m: int) -> Taps:
    """Bins repeat every m / gcd(n, m) outputs, shifted by n / gcd(n, m) inputs."""
    g = gcd(n, m)
    return Taps(n // g, m // g, lambda i: range((i * n) // m, -(-(i + 1) * n // m)))


class AdaptiveAvgPool(AdaptivePool):
    reduction = "avg"
    summary = "mean over adaptive bins giving a fixed output size"
    flops_rule = "bin volume per output element: (volume - 1) additions and a division"
    reduce_cost = 1


class AdaptiveMaxPool(AdaptivePool):
    summary = "maximum over adaptive bins giving a fixed output size"
    flops_rule = "(bin volume - 1) comparisons per output element"


class GlobalPool(Pool):
    """Reduces every spatial position of a channel to one value: (C, H, W) to (C,)."""

    primary = None
    attributes = (Attr("keepdims", Flag(), False, ("keep_dims",), "keep the spatial dimensions as size 1 (Keras)"),)

    def check(self) -> None:
        pass

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_input(shape, layout)
        out_shape = layout.join(channels, (1,) * len(spatial)) if self["keepdims"] else (channels,)
        flops = channels * (product(spatial) - 1 + self.reduce_cost)
        return Facts(out_shape, flops=flops, field=GLOBAL)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        axes = tuple(range(2, x.ndim))
        y = x.max(axis=axes, keepdims=True) if self.reduction == "max" else x.mean(axis=axes, keepdims=True, dtype=x.dtype)
        return channels_back(y, layout) if self["keepdims"] else y.reshape(x.shape[:2])

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """One reduction straight into the output."""
        return 0


    autocast = "keep"  # mean and amax are on none of torch.autocast's lists

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """mean keeps nothing (only sizes); amax keeps its input and its result."""
        return (Saved(Keep.INPUT), Saved(Keep.OUTPUT)) if self.reduction == "max" else ()
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        rank = len(shapes[0]) + 1
        x = graph.first(inputs[0], rank, layout)
        y = graph.op("GlobalMaxPool" if self.reduction == "max" else "GlobalAveragePool", [x])
        return graph.back(y, rank, layout) if self["keepdims"] else graph.op("Flatten", [y], axis=1)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        axes = tuple(range(2, len(shapes[0]) + 1))
        reduce = "amax" if self.reduction == "max" else "mean"
        keep = ", keepdim=True" if self["keepdims"] else ""
        return TorchOp(None, f"{{x}}.{reduce}({single(axes)!r}{keep})", CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        kind = KERAS_REDUCTION[self.reduction]
        rank = len(shapes[0]) - 1
        layer = call(
            f"layers.Global{kind}Pooling{rank}D", keepdims=True if self["keepdims"] else None, data_format=keras_format(layout)
        )
        return KerasOp((("", layer),))


class GlobalAvgPool(GlobalPool):
    reduction = "avg"
    summary = "mean over all positions of each channel"
    flops_rule = "per channel: (positions - 1) additions and a division"
    reduce_cost = 1


class GlobalMaxPool(GlobalPool):
    summary = "maximum over all positions of each channel"
    flops_rule = "per channel: positions - 1 comparisons"


for _rank in (1, 2, 3):
    _d = f"{_rank}d"
    REGISTRY.variant(MaxPool, f"maxpool{_d}", f"MaxPool{_d}", f"MaxPooling{_rank}D", f"max_pool{_d}", rank=_rank)
    REGISTRY.variant(
        AvgPool, f"avgpool{_d}", f"AvgPool{_d}", f"AveragePooling{_rank}D", f"avg_pool{_d}", f"average_pool{_d}", rank=_rank
    )
    REGISTRY.variant(AdaptiveAvgPool, f"adaptive_avgpool{_d}", f"AdaptiveAvgPool{_d}", rank=_rank)
    REGISTRY.variant(AdaptiveMaxPool, f"adaptive_maxpool{_d}", f"AdaptiveMaxPool{_d}", rank=_rank)
    REGISTRY.variant(
        GlobalAvgPool, f"global_avgpool{_d}", f"GlobalAveragePooling{_rank}D", f"GlobalAvgPool{_rank}D", rank=_rank
    )
    REGISTRY.variant(
        GlobalMaxPool, f"global_maxpool{_d}", f"GlobalMaxPooling{_rank}D", f"GlobalMaxPool{_rank}D", rank=_rank
    )
    if _rank < 3:  # PyTorch's LPPool3d is newer than the course's L2 pooling; not asked for yet
        REGISTRY.variant(LPPool, f"lppool{_d}", f"LPPool{_d}", f"lp_pool{_d}", rank=_rank)
REGISTRY.variant(GlobalAvgPool, "global_avgpool", "GlobalAveragePooling", "global_average_pooling")
REGISTRY.variant(GlobalMaxPool, "global_maxpool", "GlobalMaxPooling", "global_max_pooling")
