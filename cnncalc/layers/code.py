"""What a layer becomes in PyTorch or Keras code: small records the exporter renders.

A layer's `torch()` and `keras()` methods return these; they hold plain values, so the
exporter can compare the same layer across block instances and turn the values that
differ into constructor parameters. Nothing here formats a whole module.

The helpers a generated module defines when a layer needs them (a class or function the
framework lacks) are declared here too, each with its code; a Call or Raw that names one
needs it, and `TorchOp.helpers` / `KerasOp.helpers` list what an op needs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

# Where a PyTorch expression wants its input tensors (see cnncalc/export/pytorch.py): in
# PyTorch's own (N, C, *spatial) order, in the file's layout, or either (elementwise).
CHANNELS_FIRST = "channels_first"
FILE = "file"
ANY = "any"


@dataclass(frozen=True)
class Helper:
    """A class or function a generated module defines before it uses it, because the
    framework has none: its name and its code (cnncalc's own text, never a file's)."""

    name: str
    source: str

    @cached_property
    def positional(self) -> tuple[str, ...]:
        """The names of its parameters, read from its own signature (a class's __init__,
        without self): they name the positional arguments of a call to it."""
        definition = ast.parse(self.source).body[0]
        if isinstance(definition, ast.ClassDef):
            definition = next(f for f in definition.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
        names = tuple(a.arg for a in definition.args.args)
        return names[1:] if names[:1] == ("self",) else names


@dataclass(frozen=True)
class Raw:
    """Code written as it is (a class name passed as an argument), not a literal value."""

    code: str

    def __repr__(self) -> str:
        return self.code

    @property
    def helper(self) -> Helper | None:
        """The helper this names, if it is one."""
        return HELPERS.get(self.code)


@dataclass(frozen=True)
class Call:
    """`callee(*args, **kwargs)` with literal values (ints, floats, strings, tuples, Raw).

    `positional` names the positional arguments where the call is made (`.named(...)`), so
    an exporter can name a constructor parameter after one; a call to a helper takes the
    names from the helper's own signature instead."""

    callee: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    positional: tuple[str, ...] = ()

    def arguments(self) -> list[tuple[str | None, Any]]:
        return [(None, value) for value in self.args] + list(self.kwargs)

    def named(self, *names: str) -> "Call":
        """The same call, its positional arguments named (PyTorch's own parameter names)."""
        return replace(self, positional=names)

    def positional_name(self, index: int) -> str | None:
        """The name of the index-th positional argument, if it has one."""
        names = self.helper.positional if self.helper is not None else self.positional
        return names[index] if index < len(names) else None

    @property
    def helper(self) -> Helper | None:
        """The helper this calls, if it calls one."""
        return HELPERS.get(self.callee)

    def helpers(self) -> tuple[Helper, ...]:
        """The helpers this call needs: the one it calls and those its arguments name."""
        named = [self.helper] + [v.helper for _, v in self.arguments() if isinstance(v, Raw)]
        return tuple(h for h in named if h is not None)


def call(callee: str, *args: Any, **kwargs: Any) -> Call:
    """A Call; arguments whose value is None are left out (the framework's default);
    positional ones only at the end."""
    while args and args[-1] is None:
        args = args[:-1]
    return Call(callee, args, tuple((k, v) for k, v in kwargs.items() if v is not None))


@dataclass(frozen=True)
class TorchOp:
    """A layer in PyTorch: an optional module, and the forward expression using it.

    `expression` is a template of cnncalc's own code (never a file's text): {m} is the
    module, {x} the first input, {x0}, {x1}, ... each input and {xs} all of them separated
    by commas.
    """

    module: Call | None
    expression: str = "{m}({x})"
    wants: str = ANY

    @property
    def helpers(self) -> tuple[Helper, ...]:
        """The helpers the generated module must define for this layer."""
        return self.module.helpers() if self.module is not None else ()


@dataclass(frozen=True)
class KerasOp:
    """A layer in Keras: one or more layers applied one after another. The one with the
    suffix "" carries the layer's name and its weights; the others are named with their
    suffix (`conv1_pad`)."""

    layers: tuple[tuple[str, Call], ...]  # (name suffix, constructor)

    @property
    def helpers(self) -> tuple[Helper, ...]:
        """The helpers the generated module must define for this layer."""
        return tuple(h for _, layer in self.layers for h in layer.helpers())


def single(value: tuple) -> Any:
    """(3, 3) -> 3 where all values agree, as people write kernel_size=3."""
    return value[0] if len(set(value)) == 1 else tuple(value)


def torch_pad(pairs) -> tuple[int, ...]:
    """[(before, after) per spatial dim] in F.pad's order: last dimension first."""
    flat: list[int] = []
    for before, after in reversed(list(pairs)):
        flat += [before, after]
    return tuple(flat)


# -- helpers: code a generated module defines when one of its layers needs it ------------------

SEPARABLE_CONV = Helper(
    "SeparableConv",
    '''class SeparableConv(nn.Module):
    """Keras's SeparableConv: a depthwise convolution (no bias), then a 1x1 pointwise one."""

    def __init__(self, conv, in_channels, out_channels, kernel_size, multiplier=1, bias=True, **options):
        super().__init__()
        middle = in_channels * multiplier
        self.depthwise = conv(in_channels, middle, kernel_size, groups=in_channels, bias=False, **options)
        self.pointwise = conv(middle, out_channels, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))''',
)

MAX_POOL_PADDING = Helper(
    "MaxPoolPadding",
    '''class MaxPoolPadding(keras.layers.Layer):
    """Pads with -inf before a max pooling, as PyTorch's padded max pooling does."""

    def __init__(self, padding, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(tuple(pair) for pair in padding)
        self.data_format = data_format

    def call(self, x):
        spatial = list(self.padding)
        pads = [(0, 0), (0, 0), *spatial] if self.data_format == "channels_first" else [(0, 0), *spatial, (0, 0)]
        return keras.ops.pad(x, pads, constant_values=float("-inf"))

    def compute_output_shape(self, shape):
        sizes = [n + a + b if n is not None else None for n, (a, b) in zip(self._spatial(shape), self.padding)]
        if self.data_format == "channels_first":
            return (shape[0], shape[1], *sizes)
        return (shape[0], *sizes, shape[-1])

    def _spatial(self, shape):
        return shape[2:] if self.data_format == "channels_first" else shape[1:-1]

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}''',
)

GELU_EXACT = Helper(
    "gelu_exact",
    '''def gelu_exact(x):
    """GELU with erf, as PyTorch computes it (Keras's "gelu" is the tanh approximation)."""
    return keras.activations.gelu(x, approximate=False)''',
)

SPLIT_LAYER = Helper(
    "SplitLayer",
    '''class SplitLayer(keras.layers.Layer):
    """torch.split in Keras: the parts of x along an axis (counting the batch), cut where
    `ends` says (each part's end but the last's), returned as a list."""

    def __init__(self, ends, axis, **kwargs):
        super().__init__(**kwargs)
        self.ends = [int(end) for end in ends]
        self.axis = axis

    def call(self, x):
        return keras.ops.split(x, self.ends, axis=self.axis)

    def compute_output_shape(self, shape):
        size = shape[self.axis]
        bounds = [0, *self.ends, size]
        parts = [b - a if size is not None else None for a, b in zip(bounds, bounds[1:])]
        return [(*shape[: self.axis], part, *shape[self.axis + 1 :]) for part in parts]

    def get_config(self):
        return {**super().get_config(), "ends": self.ends, "axis": self.axis}''',
)

TORCH_SCALE = Helper(
    "Scale",
    '''class Scale(nn.Module):
    """A learnt multiplier per channel (dim 1), with bias a learnt shift too: ConvNeXt's layer scale."""

    def __init__(self, channels, init=1.0, bias=False):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), float(init)))
        self.beta = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x):
        shape = (-1,) + (1,) * (x.ndim - 2)
        y = x * self.gamma.view(shape)
        return y if self.beta is None else y + self.beta.view(shape)''',
)

TORCH_STOCHASTIC_DEPTH = Helper(
    "StochasticDepth",
    '''class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: in training, zeroes a whole sample ('row') or the whole
    batch ('batch') with probability p and scales the rest by 1 / (1 - p); the identity at inference."""

    def __init__(self, p, mode="row"):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        if self.p < 1.0:
            keep.div_(1.0 - self.p)
        return x * keep''',
)

KERAS_SCALE = Helper(
    "ScaleLayer",
    '''class ScaleLayer(keras.layers.Layer):
    """A learnt multiplier per channel (along `axis`), with bias a learnt shift too: ConvNeXt's layer scale."""

    def __init__(self, init=1.0, bias=False, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.init, self.bias, self.axis = float(init), bias, axis

    def build(self, shape):
        channels = shape[self.axis]
        self.gamma = self.add_weight(shape=(channels,), initializer=keras.initializers.Constant(self.init), name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta") if self.bias else None

    def call(self, x):
        shape = [1] * len(x.shape)
        shape[self.axis] = -1
        y = x * keras.ops.reshape(self.gamma, shape)
        return y if self.beta is None else y + keras.ops.reshape(self.beta, shape)

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "init": self.init, "bias": self.bias, "axis": self.axis}''',
)

KERAS_CHANNEL_SHUFFLE = Helper(
    "ChannelShuffle",
    '''class ChannelShuffle(keras.layers.Layer):
    """torch.nn.ChannelShuffle along `axis` (counting the batch): the channels as (groups, C / groups),
    transposed to (C / groups, groups) and read back in that order."""

    def __init__(self, groups, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.groups, self.axis = groups, axis

    def call(self, x):
        axis = self.axis % len(x.shape)
        sizes = list(x.shape[1:])
        channels = x.shape[axis]
        split = [-1, *x.shape[1:axis], self.groups, channels // self.groups, *x.shape[axis + 1 :]]
        order = list(range(len(split)))
        order[axis], order[axis + 1] = order[axis + 1], order[axis]
        y = keras.ops.transpose(keras.ops.reshape(x, split), order)
        return keras.ops.reshape(y, [-1, *sizes])

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis}''',
)

KERAS_LP_POOL = Helper(
    "LPPool",
    '''class LPPool(keras.layers.Layer):
    """torch.nn.LPPool: (sum of x^p over each window)^(1/p), as PyTorch computes it (an average
    pooling of x^p times the window's volume, then the p-th root)."""

    def __init__(self, norm_type, pool_size, strides, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.norm_type, self.pool_size, self.strides = float(norm_type), tuple(pool_size), tuple(strides)
        self.data_format = data_format

    def call(self, x):
        volume = 1
        for size in self.pool_size:
            volume *= size
        mean = keras.ops.average_pool(
            keras.ops.power(x, self.norm_type), self.pool_size, self.strides, padding="valid", data_format=self.data_format
        )
        return keras.ops.power(mean * volume, 1.0 / self.norm_type)

    def get_config(self):
        return {**super().get_config(), "norm_type": self.norm_type, "pool_size": self.pool_size,
                "strides": self.strides, "data_format": self.data_format}''',
)

KERAS_STOCHASTIC_DEPTH = Helper(
    "StochasticDepthLayer",
    '''class StochasticDepthLayer(keras.layers.Layer):
    """torchvision.ops.StochasticDepth in Keras: in training, zeroes a whole sample ('row') or the
    whole batch ('batch') with probability `rate` and scales the rest by 1 / (1 - rate); the identity
    at inference."""

    def __init__(self, rate, mode="row", **kwargs):
        super().__init__(**kwargs)
        self.rate, self.mode = float(rate), mode

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1) if self.mode == "row" else (1,) * len(x.shape)
        keep = keras.ops.cast(keras.random.uniform(shape) >= self.rate, x.dtype)
        return x * keep / (1.0 - self.rate) if self.rate < 1.0 else x * keep

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "mode": self.mode}''',
)

KERAS_RESIZE_LIKE = Helper(
    "ResizeLike",
    '''class ResizeLike(keras.layers.Layer):
    """Resizes x to the spatial size of another tensor: called on [x, other] (2-D)."""

    def __init__(self, interpolation="bilinear", data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.interpolation, self.data_format = interpolation, data_format

    def call(self, inputs):
        x, other = inputs
        size = other.shape[2:4] if self.data_format == "channels_first" else other.shape[1:3]
        return keras.ops.image.resize(x, tuple(size), interpolation=self.interpolation, data_format=self.data_format)

    def compute_output_shape(self, shapes):
        x, other = shapes
        if self.data_format == "channels_first":
            return (x[0], x[1], *other[2:4])
        return (x[0], *other[1:3], x[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation, "data_format": self.data_format}''',
)

KERAS_NORMALIZATION = Helper(
    "KerasNormalization",
    '''class KerasNormalization(nn.Module):
    """Keras's Normalization at inference: (x - mean) / max(sqrt(variance), 1e-7) per
    channel (invert: mean + x * max(sqrt(variance), 1e-7)). Its statistics are buffers, with
    the count Keras keeps for adapt(); given as values, they are constants (no state)."""

    def __init__(self, channels, invert=False, mean=None, variance=None):
        super().__init__()
        self.invert = invert
        stored = mean is None
        mean = torch.zeros(channels) if mean is None else torch.tensor(mean).expand(channels)
        variance = torch.ones(channels) if variance is None else torch.tensor(variance).expand(channels)
        self.register_buffer("mean", mean.clone(), persistent=stored)
        self.register_buffer("variance", variance.clone(), persistent=stored)
        if stored:
            self.register_buffer("count", torch.zeros(()))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = self.mean.to(x.dtype).view(shape)
        deviation = torch.clamp(torch.sqrt(self.variance.to(x.dtype)), min=1e-7).view(shape)
        return mean + x * deviation if self.invert else (x - mean) / deviation''',
)


# Every helper, in the order a generated module defines them; a Call's callee or a Raw's code
# that is one of these names is that helper.
HELPERS = {
    helper.name: helper
    for helper in (
        SEPARABLE_CONV,
        MAX_POOL_PADDING,
        GELU_EXACT,
        SPLIT_LAYER,
        TORCH_SCALE,
        TORCH_STOCHASTIC_DEPTH,
        KERAS_SCALE,
        KERAS_CHANNEL_SHUFFLE,
        KERAS_LP_POOL,
        KERAS_STOCHASTIC_DEPTH,
        KERAS_RESIZE_LIKE,
        KERAS_NORMALIZATION,
    )
}
