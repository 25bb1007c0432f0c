"""Random single-layer cases for every registered layer family, and the same layer built
in PyTorch, read independently from the raw attributes (never from cnncalc's own values).

A case is (input shape, layers as YAML entries, torch module factory). The factory gets
the batch-1 input shape and returns a torch module, or raises if PyTorch rejects the
configuration, which the tests then require cnncalc to reject too.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import strategies as st

from cnncalc.layers import REGISTRY
from cnncalc.layers import activation as act_mod
from cnncalc.layers import conv as conv_mod
from cnncalc.layers import dense as dense_mod
from cnncalc.layers import extra as extra_mod
from cnncalc.layers import merge as merge_mod
from cnncalc.layers import pool as pool_mod
from cnncalc.layers import preprocess as preprocess_mod
from cnncalc.layers import shape as shape_mod
from cnncalc.layers import split as split_mod

TORCH_ACTIVATIONS = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "hardsigmoid": nn.Hardsigmoid,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "selu": nn.SELU,
    "mish": nn.Mish,
    "silu": nn.SiLU,
    "hardswish": nn.Hardswish,
}


def per_dim(value, rank):
    return tuple(value) if isinstance(value, list) else (value,) * rank


class Wrapped(nn.Module):
    """A torch layer with extra tensor steps around it; parameters keep the layer's names."""

    def __init__(self, fn, **modules):
        super().__init__()
        for name, module in modules.items():
            setattr(self, name, module)
        self.fn = fn

    def forward(self, x):
        return self.fn(self, x)


def torch_pad_list(pairs):
    """[(before, after) per dim, first dim first] in F.pad's order (last dim first)."""
    flat = []
    for before, after in reversed(pairs):
        flat += [before, after]
    return flat


def pad_pairs(padding, rank):
    if isinstance(padding, list) and padding and isinstance(padding[0], list):
        return [tuple(p) for p in padding]
    return [(p, p) for p in per_dim(padding, rank)]


# -- strategies -------------------------------------------------------------------------------


def spatial_shape(draw, rank, low=1, high=10):
    return [draw(st.integers(low, high)) for _ in range(rank)]


def per_dim_value(draw, rank, low, high):
    if draw(st.booleans()):
        return draw(st.integers(low, high))
    return [draw(st.integers(low, high)) for _ in range(rank)]


def conv_padding(draw, rank, allow_strings=True):
    kind = draw(st.sampled_from(["int", "list", "pairs", "same", "valid"] if allow_strings else ["int", "list", "pairs"]))
    if kind == "int":
        return draw(st.integers(0, 3))
    if kind == "list":
        return [draw(st.integers(0, 3)) for _ in range(rank)]
    if kind == "pairs":
        return [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(rank)]
    return kind


def rank_of(cls, draw):
    return cls.rank if cls.rank is not None else draw(st.integers(1, 3))


CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def conv_case(draw, cls):
    rank = cls.rank
    channels = draw(st.integers(1, 6))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    out = draw(st.integers(1, 4)) * draw(st.sampled_from([1, groups]))
    stride = per_dim_value(draw, rank, 1, 3)
    padding = conv_padding(draw, rank)
    if padding == "same" and stride != 1 and stride != [1] * rank:
        stride = 1  # TensorFlow's 'same' with strides is checked against Keras, not PyTorch
    attrs = {
        "out": out,
        "kernel": per_dim_value(draw, rank, 1, 4),
        "stride": stride,
        "padding": padding,
        "dilation": per_dim_value(draw, rank, 1, 2),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    if draw(st.booleans()):
        attrs["activation"] = draw(st.sampled_from(["relu", "sigmoid", "gelu"]))
    shape = [channels, *spatial_shape(draw, rank)]

    def build(x_shape):
        pads = attrs["padding"]
        layer = CONV[rank](
            channels,
            out,
            per_dim(attrs["kernel"], rank),
            per_dim(attrs["stride"], rank),
            padding=0 if isinstance(pads, list) and isinstance(pads[0], list) else (pads if isinstance(pads, str) else per_dim(pads, rank)),
            dilation=per_dim(attrs["dilation"], rank),
            groups=groups,
            bias=attrs["bias"],
        )
        act = TORCH_ACTIVATIONS[attrs.get("activation", "identity")]()
        if isinstance(pads, list) and isinstance(pads[0], list):
            return Wrapped(lambda m, x: act(m.conv(F.pad(x, torch_pad_list(pad_pairs(pads, rank))))), conv=layer)
        return Wrapped(lambda m, x: act(m.conv(x)), conv=layer)

    return shape, [{cls.type_name: attrs}], build


def conv_transpose_case(draw, cls):
    rank = cls.rank
    channels = draw(st.integers(1, 6))
    groups = draw(st.sampled_from([1, 1, 2]))
    out = draw(st.integers(1, 4)) * draw(st.sampled_from([1, groups]))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    attrs = {
        "out": out,
        "kernel": per_dim_value(draw, rank, 1, 4),
        "stride": stride,
        "padding": draw(st.one_of(st.integers(0, 2), st.just([[0, 1]] * rank))),
        "output_padding": draw(st.integers(0, 2)),
        "dilation": dilation,
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    shape = [channels, *spatial_shape(draw, rank, 1, 6)]

    def build(x_shape):
        pads = attrs["padding"]
        pairs = isinstance(pads, list)
        layer = CONVT[rank](
            channels,
            out,
            per_dim(attrs["kernel"], rank),
            stride,
            padding=0 if pairs else pads,
            output_padding=attrs["output_padding"],
            groups=groups,
            bias=attrs["bias"],
            dilation=dilation,
        )
        if not pairs:
            return Wrapped(lambda m, x: m.conv(x), conv=layer)

        def crop(m, x):
            y = m.conv(x)
            index = [slice(None), slice(None)] + [slice(b, y.shape[2 + i] - a) for i, (b, a) in enumerate(pads)]
            return y[tuple(index)]

        return Wrapped(crop, conv=layer)

    return shape, [{cls.type_name: attrs}], build


def depthwise_case(draw, cls):
    rank = cls.rank
    channels = draw(st.integers(1, 5))
    attrs = {
        "kernel": per_dim_value(draw, rank, 1, 3),
        "stride": draw(st.integers(1, 2)),
        "padding": draw(st.integers(0, 2)),
        "multiplier": draw(st.integers(1, 3)),
        "bias": draw(st.booleans()),
    }
    shape = [channels, *spatial_shape(draw, rank)]

    def build(x_shape):
        layer = CONV[rank](
            channels, channels * attrs["multiplier"], per_dim(attrs["kernel"], rank), attrs["stride"],
            attrs["padding"], groups=channels, bias=attrs["bias"],
        )
        return Wrapped(lambda m, x: m.conv(x), conv=layer)

    return shape, [{cls.type_name: attrs}], build


def separable_case(draw, cls):
    rank = cls.rank
    channels = draw(st.integers(1, 5))
    attrs = {
        "out": draw(st.integers(1, 6)),
        "kernel": per_dim_value(draw, rank, 1, 3),
        "stride": draw(st.integers(1, 2)),
        "padding": draw(st.integers(0, 1)),
        "multiplier": draw(st.integers(1, 2)),
        "bias": draw(st.booleans()),
    }
    shape = [channels, *spatial_shape(draw, rank)]

    def build(x_shape):
        middle = channels * attrs["multiplier"]
        depthwise = CONV[rank](channels, middle, per_dim(attrs["kernel"], rank), attrs["stride"], attrs["padding"], groups=channels, bias=False)
        pointwise = CONV[rank](middle, attrs["out"], 1, bias=attrs["bias"])
        return Wrapped(lambda m, x: m.pointwise(m.depthwise(x)), depthwise=depthwise, pointwise=pointwise)

    return shape, [{cls.type_name: attrs}], build


MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}


def pool_case(draw, cls):
    rank = cls.rank
    is_max = issubclass(cls, pool_mod.MaxPool)
    attrs = {"kernel": per_dim_value(draw, rank, 1, 4), "padding": draw(st.integers(0, 2)), "ceil_mode": draw(st.booleans())}
    if draw(st.booleans()):
        attrs["stride"] = per_dim_value(draw, rank, 1, 3)
    if is_max:
        attrs["dilation"] = draw(st.integers(1, 2))
    else:
        attrs["count_include_pad"] = draw(st.booleans())
    shape = [draw(st.integers(1, 3)), *spatial_shape(draw, rank, 1, 12)]

    def build(x_shape):
        kernel = per_dim(attrs["kernel"], rank)
        stride = per_dim(attrs["stride"], rank) if "stride" in attrs else None
        if is_max:
            return MAXPOOL[rank](kernel, stride, attrs["padding"], attrs["dilation"], ceil_mode=attrs["ceil_mode"])
        return AVGPOOL[rank](kernel, stride, attrs["padding"], ceil_mode=attrs["ceil_mode"], count_include_pad=attrs["count_include_pad"])

    return shape, [{cls.type_name: attrs}], build


ADAPTIVE = {
    ("avg", 1): nn.AdaptiveAvgPool1d, ("avg", 2): nn.AdaptiveAvgPool2d, ("avg", 3): nn.AdaptiveAvgPool3d,
    ("max", 1): nn.AdaptiveMaxPool1d, ("max", 2): nn.AdaptiveMaxPool2d, ("max", 3): nn.AdaptiveMaxPool3d,
}


def adaptive_case(draw, cls):
    rank = cls.rank
    kind = "max" if issubclass(cls, pool_mod.AdaptiveMaxPool) else "avg"
    if draw(st.booleans()):
        size = draw(st.integers(1, 8))
    else:
        size = [draw(st.one_of(st.none(), st.integers(1, 8))) for _ in range(rank)]
    shape = [draw(st.integers(1, 3)), *spatial_shape(draw, rank, 1, 12)]
    # null keeps the input's size; PyTorch's 1-D adaptive pools only take the number itself.
    written = [n if m is None and rank == 1 else m for n, m in zip(shape[1:], size)] if isinstance(size, list) else size
    return shape, [{cls.type_name: {"output_size": size}}], lambda x_shape: ADAPTIVE[(kind, rank)](tuple(written) if isinstance(written, list) else written)


def global_case(draw, cls):
    rank = rank_of(cls, draw)
    kind = "max" if issubclass(cls, pool_mod.GlobalMaxPool) else "avg"
    keep = draw(st.booleans())
    shape = [draw(st.integers(1, 4)), *spatial_shape(draw, rank)]

    def build(x_shape):
        pool = ADAPTIVE[(kind, rank)](1)
        return pool if keep else nn.Sequential(pool, nn.Flatten())

    return shape, [{cls.type_name: {"keepdims": keep}}], build


def linear_case(draw, cls):
    rank = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 6)) for _ in range(rank)]
    attrs = {"out": draw(st.integers(1, 8)), "bias": draw(st.booleans())}
    return shape, [{cls.type_name: attrs}], lambda x_shape: nn.Linear(shape[-1], attrs["out"], bias=attrs["bias"])


# Keras's spellings of the normalisations take Keras's epsilon, 1e-3 (keras.layers.
# BatchNormalization, LayerNormalization, GroupNormalization); PyTorch's, 1e-5.
KERAS_SPELLED = {"batch_normalization", "layer_normalization", "group_normalization"}


def epsilon(cls) -> float:
    return 1e-3 if cls.type_name in KERAS_SPELLED else 1e-5


BATCHNORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
INSTANCENORM = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}


def norm_case(draw, cls):
    instance = issubclass(cls, dense_mod.InstanceNorm)
    if cls.rank is None:
        dims = draw(st.integers(2 if instance else 1, 4))
    else:
        dims = cls.rank + 1 if cls.rank > 1 or instance else draw(st.integers(1, 2))
    shape = [draw(st.integers(1, 5)) for _ in range(dims)]
    attrs = {"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans())}
    table = INSTANCENORM if instance else BATCHNORM

    def build(x_shape):
        return table[max(dims - 1, 1)](shape[0], eps=epsilon(cls), affine=attrs["affine"], track_running_stats=attrs["track_running_stats"])

    return shape, [{cls.type_name: attrs}], build


def layernorm_case(draw, cls):
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]
    count = draw(st.integers(0, len(shape)))
    attrs = {"affine": draw(st.booleans()), "bias": draw(st.booleans())}
    if count:
        attrs["shape"] = shape[len(shape) - count :]
    normalised = attrs.get("shape", shape[-1:])
    return shape, [{cls.type_name: attrs}], lambda x_shape: nn.LayerNorm(normalised, eps=epsilon(cls), elementwise_affine=attrs["affine"], bias=attrs["bias"])


def groupnorm_case(draw, cls):
    shape = [draw(st.integers(1, 8)), *spatial_shape(draw, draw(st.integers(0, 2)), 1, 4)]
    attrs = {"groups": draw(st.integers(1, 4)), "affine": draw(st.booleans())}
    return shape, [{cls.type_name: attrs}], lambda x_shape: GroupNormPerSample(attrs["groups"], shape[0], eps=epsilon(cls), affine=attrs["affine"])


class GroupNormPerSample(nn.GroupNorm):
    """PyTorch refuses a group of one value only when the batch has one sample; cnncalc
    analyses one sample, so the oracle asks PyTorch about one sample first."""

    def forward(self, x):
        super().forward(x[:1])
        return super().forward(x)


def activation_case(draw, cls):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    return shape, [cls.type_name], lambda x_shape: TORCH_ACTIVATIONS[cls.type_name]()


def prelu_case(draw, cls):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
    count = draw(st.sampled_from([1, shape[0], shape[0] + 1]))
    return shape, [{cls.type_name: {"num_parameters": count}}], lambda x_shape: nn.PReLU(count)


def softmax_case(draw, cls):
    rank = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    # Axis 0 and -(rank + 1) are the batch, which cnncalc refuses on purpose (see test_errors).
    dim = draw(st.sampled_from([d for d in range(-rank - 2, rank + 2) if d not in (0, -rank - 1)]))
    module = nn.LogSoftmax if issubclass(cls, act_mod.LogSoftmax) else nn.Softmax
    return shape, [{cls.type_name: {"dim": dim}}], lambda x_shape: module(dim=dim)


def dropout_case(draw, cls):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
    p = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    return shape, [{cls.type_name: p}], lambda x_shape: nn.Dropout(p)


def flatten_case(draw, cls):
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    start = draw(st.integers(1, rank))
    end = draw(st.sampled_from([-1, rank, start]))
    return shape, [{cls.type_name: {"start_dim": start, "end_dim": end}}], lambda x_shape: nn.Flatten(start, end)


def reshape_case(draw, cls):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
    total = math.prod(shape)
    target = draw(st.permutations(shape + [1]))
    if draw(st.booleans()) and target:
        target[draw(st.integers(0, len(target) - 1))] = -1
    if draw(st.integers(0, 5)) == 0:
        target = [total + 1]  # impossible: both must reject
    return shape, [{cls.type_name: list(target)}], lambda x_shape: Wrapped(lambda m, x: x.reshape(x.shape[0], *target))


def pad_case(draw, cls):
    rank = rank_of(cls, draw)
    shape = [draw(st.integers(1, 3)), *spatial_shape(draw, rank, 1, 6)]
    padding = conv_padding(draw, rank, allow_strings=False)
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    if mode == "reflect" and rank == 3:
        mode = "replicate"
    flat = torch_pad_list(pad_pairs(padding, rank))
    return shape, [{cls.type_name: {"padding": padding, "mode": mode}}], lambda x_shape: Wrapped(lambda m, x: F.pad(x, flat, mode=mode))


def crop_case(draw, cls):
    rank = rank_of(cls, draw)
    spatial = spatial_shape(draw, rank, 1, 9)
    shape = [draw(st.integers(1, 3)), *spatial]
    if cls.primary == "size" and draw(st.booleans()):
        size = [draw(st.integers(1, n)) for n in spatial]
        # torchvision.transforms.functional.center_crop: top = int(round((h - th) / 2.0))
        pairs = [(int(round((n - m) / 2.0)), n - m - int(round((n - m) / 2.0))) for n, m in zip(spatial, size)]
        attrs = {"size": size}
    else:
        pairs = [(draw(st.integers(0, n // 2)), draw(st.integers(0, (n - 1) // 2))) for n in spatial]
        attrs = {"cropping": [list(p) for p in pairs]}

    def crop(m, x):
        index = [slice(None), slice(None)] + [slice(b, x.shape[2 + i] - a) for i, (b, a) in enumerate(pairs)]
        return x[tuple(index)]

    return shape, [{cls.type_name: attrs}], lambda x_shape: Wrapped(crop)


UPSAMPLE_MODES = {1: ["nearest", "linear"], 2: ["nearest", "bilinear", "bicubic"], 3: ["nearest", "trilinear"]}


def upsample_case(draw, cls):
    rank = rank_of(cls, draw)
    shape = [draw(st.integers(1, 3)), *spatial_shape(draw, rank, 1, 6)]
    keras = issubclass(cls, shape_mod.KerasUpSampling)
    modes = ["nearest", "bilinear"] if keras and rank == 2 else ["nearest"] if keras else UPSAMPLE_MODES[rank]
    mode = draw(st.sampled_from(modes))
    attrs = {"mode": mode}
    if not keras and draw(st.integers(0, 3)) == 0:  # like: the input's size, after a pooling by 2
        pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[rank]
        attrs["like"] = "input"
        layers = [{f"maxpool{rank}d": 2}, {cls.type_name: attrs}]
        return shape, layers, lambda x_shape: Wrapped(lambda m, x: F.interpolate(pool(x, 2), size=x.shape[2:], mode=mode))
    if keras or draw(st.booleans()):
        scale = draw(st.one_of(st.integers(1, 3), st.sampled_from([0.5, 1.5, 2.5]))) if not keras else draw(st.integers(1, 3))
        attrs["scale"] = scale
        kwargs = {"scale_factor": float(scale)}
    else:
        size = [draw(st.integers(1, 9)) for _ in range(rank)]
        attrs["size"] = size
        kwargs = {"size": tuple(size)}
    if mode != "nearest" and not keras and draw(st.booleans()):
        attrs["align_corners"] = kwargs["align_corners"] = draw(st.booleans())
    return shape, [{cls.type_name: attrs}], lambda x_shape: nn.Upsample(mode=mode, **kwargs)


def pixel_shuffle_case(draw, cls):
    factor = draw(st.integers(1, 3))
    channels = draw(st.sampled_from([factor * factor, 2 * factor * factor, factor * factor + 1]))
    shape = [channels, *spatial_shape(draw, 2, 1, 5)]
    return shape, [{cls.type_name: factor}], lambda x_shape: nn.PixelShuffle(factor)


def elementwise_case(draw, cls):
    shape = [draw(st.integers(2, 4)), *spatial_shape(draw, 2, 2, 5)]
    branch = draw(st.sampled_from(["same", "broadcast", "mismatch"]))
    op = (lambda a, b: a * b) if cls.type_name == "multiply" else (lambda a, b: a + b)
    if branch == "same":
        layers = [{"identity": None, "name": "b"}]
        other = lambda x: x  # noqa: E731
    elif branch == "broadcast":
        layers = [{"global_avgpool": {"keepdims": True}, "name": "b"}]
        other = lambda x: x.mean(dim=(2, 3), keepdim=True)  # noqa: E731
    else:
        layers = [{"avgpool2d": 2, "name": "b"}]
        other = lambda x: F.avg_pool2d(x, 2)  # noqa: E731
    layers.append({cls.type_name: ["input", "b"]})
    return shape, layers, lambda x_shape: Wrapped(lambda m, x: op(x, other(x)))


def concat_case(draw, cls):
    shape = [draw(st.integers(1, 4)), *spatial_shape(draw, 2, 1, 5)]
    axis = draw(st.sampled_from([None, 1, 2, 3, -1, -2, -3]))
    pool = draw(st.booleans()) and min(shape[1:]) >= 2
    layers = [{"avgpool2d": 2, "name": "b"} if pool else {"identity": None, "name": "b"}]
    attrs = {} if axis is None else {"axis": axis}
    layers.append({cls.type_name: {**attrs}, "from": ["input", "b"]})
    other = (lambda x: F.avg_pool2d(x, 2)) if pool else (lambda x: x)
    return shape, layers, lambda x_shape: Wrapped(lambda m, x: torch.cat([x, other(x)], dim=1 if axis is None else axis))


def cut_case(draw, cls):
    """split / chunk, then the parts joined in reverse order (so a mix-up of parts shows),
    against torch.split / torch.chunk."""
    rank = draw(st.integers(0, 2))
    axis = draw(st.sampled_from([None, None, 1, -1] + ([2] if rank else [])))
    dim = 1 if axis is None else axis
    parts = draw(st.integers(2, 3))
    if cls.type_name == "split":
        sizes = [draw(st.integers(1, 3)) for _ in range(parts)]
        cut_size = sum(sizes) + draw(st.sampled_from([0, 0, 0, 1]))  # sometimes parts that do not add up
        attrs = {"sizes": sizes}
    else:
        cut_size = parts * draw(st.integers(1, 3)) + draw(st.sampled_from([0, 0, 0, 1]))  # sometimes indivisible
        attrs = {"chunks": parts}
    shape = [draw(st.integers(1, 4)), *spatial_shape(draw, rank, 1, 4)]
    shape[(dim - 1) if dim > 0 else len(shape) + dim] = cut_size
    if axis is not None:
        attrs["axis"] = axis
    join = {} if axis is None else {"axis": axis}
    layers = [{cls.type_name: attrs, "name": "s"}, {"concat": join, "from": [f"s.{i}" for i in reversed(range(parts))]}]

    def build(x_shape):
        def cut(m, x):
            if cls.type_name == "split":
                pieces = torch.split(x, sizes, dim=dim)
            else:
                if x.shape[dim] % parts:
                    raise ValueError("cnncalc's chunk wants equal parts; torch.chunk would make unequal ones")
                pieces = torch.chunk(x, parts, dim=dim)
            return torch.cat(pieces[::-1], dim=dim)

        cut(None, torch.zeros(x_shape))  # PyTorch's own checks now
        return Wrapped(cut)

    return shape, layers, build


class TorchScale(nn.Module):
    """A learnt multiplier per channel (dim 1) and an optional shift, as ConvNeXt's layer
    scale multiplies (torchvision: layer_scale * x, layer_scale of shape (C, 1, 1))."""

    def __init__(self, channels, bias):
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(channels) + 0.5)
        self.beta = nn.Parameter(torch.rand(channels) - 0.5) if bias else None

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = x * self.gamma.reshape(shape)
        return y if self.beta is None else y + self.beta.reshape(shape)


def scale_case(draw, cls):
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 4)))]
    bias = draw(st.booleans())
    attrs = {"bias": bias} if bias or draw(st.booleans()) else None
    return shape, [{cls.type_name: attrs}], lambda x_shape: TorchScale(shape[0], bias)


def permute_case(draw, cls):
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 4)))]
    dims = [d + 1 for d in draw(st.permutations(range(len(shape))))]
    if draw(st.integers(0, 5)) == 0:
        dims = dims + [len(dims) + 1]  # an axis too many: both must reject
    written = [0, *dims] if draw(st.booleans()) else dims  # torchvision's Permute, or Keras's
    return shape, [{cls.type_name: written}], lambda x_shape: Wrapped(lambda m, x: x.permute(0, *dims))


def channel_shuffle_case(draw, cls):
    shape = [draw(st.integers(1, 8)), *spatial_shape(draw, draw(st.integers(0, 3)), 1, 4)]
    groups = draw(st.integers(1, 4))
    return shape, [{cls.type_name: groups}], lambda x_shape: nn.ChannelShuffle(groups)


class TorchStochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth (retyped): the identity in eval mode."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        raise AssertionError("the oracle runs in eval mode")


def stochastic_depth_case(draw, cls):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
    p, mode = draw(st.sampled_from([0.0, 0.1, 0.5])), draw(st.sampled_from(["row", "batch"]))
    return shape, [{cls.type_name: {"p": p, "mode": mode}}], lambda x_shape: TorchStochasticDepth(p, mode)


LPPOOL = {1: nn.LPPool1d, 2: nn.LPPool2d}


def lppool_case(draw, cls):
    rank = cls.rank
    shape = [draw(st.integers(1, 3)), *spatial_shape(draw, rank, 1, 8)]
    kernel = per_dim_value(draw, rank, 1, 3)
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    norm = draw(st.sampled_from([1, 2, 3, 1.5]))
    ceil = draw(st.booleans())
    attrs = {"norm_type": norm, "kernel": kernel, "ceil_mode": ceil}
    if stride is not None:
        attrs["stride"] = stride
    torch_kernel = kernel if rank > 1 or not isinstance(kernel, list) else kernel[0]
    return shape, [{cls.type_name: attrs}], lambda x_shape: LPPOOL[rank](norm, torch_kernel, stride, ceil_mode=ceil)


class IndexEmbedding(nn.Embedding):
    """nn.Embedding on indices held as floats (the tests' inputs are float arrays)."""

    def forward(self, x):
        return super().forward(x.long())


def embedding_case(draw, cls):
    shape = [draw(st.integers(1, 6)) for _ in range(draw(st.integers(1, 2)))]
    num, dim = draw(st.integers(1, 20)), draw(st.integers(1, 6))
    attrs = {"num": num, "dim": dim}
    padding = draw(st.one_of(st.none(), st.integers(0, num - 1)))
    if padding is not None:
        attrs["padding_idx"] = padding

    def build(x_shape):
        return IndexEmbedding(num, dim, padding_idx=padding)

    build.sample = lambda *size, dtype=torch.float32: torch.randint(0, num, size).to(dtype)  # indices, not noise
    return shape, [{cls.type_name: attrs}], build


def sample(build, *size, dtype=torch.float32):
    """The case's input: indices for an embedding (its build says so), else standard normal."""
    draw = getattr(build, "sample", None)
    return draw(*size, dtype=dtype) if draw is not None else torch.randn(*size, dtype=dtype)


def per_channel_values(draw, channels, low, high):
    """A number, or one per channel (as Keras's Rescaling and Normalization take them)."""
    number = st.integers(int(low * 8), int(high * 8)).map(lambda v: v / 8)  # eighths: exact in float32
    if draw(st.booleans()):
        return draw(number)
    count = draw(st.sampled_from([channels, channels, 1, channels + 1]))
    return [draw(number) for _ in range(count)]


def along_channels(values, x):
    """A number, or per-channel values shaped for x's dim 1 (a scalar for one value)."""
    if not isinstance(values, list):
        return values
    if len(values) != 1 and len(values) != x.shape[1]:
        raise ValueError(f"{len(values)} values for {x.shape[1]} channels")
    return torch.tensor(values, dtype=x.dtype).view(1, -1, *([1] * (x.ndim - 2)))


def rescaling_case(draw, cls):
    """Keras's Rescaling: x * scale + offset; PyTorch writes it as that expression."""
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
    attrs = {"scale": per_channel_values(draw, shape[0], -3, 3)}
    if draw(st.booleans()):
        attrs["offset"] = per_channel_values(draw, shape[0], -3, 3)
    scale, offset = attrs["scale"], attrs.get("offset", 0.0)
    return shape, [{cls.type_name: attrs}], lambda x_shape: Wrapped(lambda m, x: x * along_channels(scale, x) + along_channels(offset, x))


class KerasNormalization(nn.Module):
    """keras.layers.Normalization at inference, read from Keras's call(): (x - mean) /
    maximum(sqrt(variance), keras.backend.epsilon()) per channel; invert: mean + x * that.
    Without constants its state is mean, variance and count (shape ()), as Keras adds them."""

    def __init__(self, channels, invert, mean=None, variance=None):
        super().__init__()
        self.invert, self.constants = invert, (mean, variance) if mean is not None else None
        if mean is None:
            self.register_buffer("mean", torch.randn(channels) * 0.5)
            self.register_buffer("variance", torch.rand(channels) + 0.5)
            self.register_buffer("count", torch.zeros(()))

    def forward(self, x):
        if self.constants is not None:
            mean, variance = (along_channels(v, x) for v in self.constants)
            variance = torch.as_tensor(variance, dtype=x.dtype)
        else:
            mean, variance = (along_channels(v.tolist(), x) for v in (self.mean, self.variance))
        deviation = torch.clamp(torch.sqrt(variance), min=1e-7)
        return mean + x * deviation if self.invert else (x - mean) / deviation


def normalization_case(draw, cls):
    rank = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    attrs, constants = {}, (None, None)
    if draw(st.booleans()):
        attrs["invert"] = True
    if draw(st.booleans()):
        constants = (per_channel_values(draw, shape[0], -2, 2), per_channel_values(draw, shape[0], 0.125, 3))
        attrs["mean"], attrs["variance"] = constants
    if draw(st.booleans()):  # Keras's axis: the channels (1 here, channels first), or not
        attrs["axis"] = draw(st.sampled_from([1, -rank, 2, -1])) if rank > 1 else draw(st.sampled_from([1, -1, 2]))

    def build(x_shape):
        axis = attrs.get("axis", 1)
        if axis not in (1, -rank):
            raise ValueError(f"axis {axis}: not the channels (cnncalc normalises per channel only)")
        return KerasNormalization(shape[0], attrs.get("invert", False), *constants)

    return shape, [{cls.type_name: attrs}], build


# Keras's activation functions by their Keras names, and the PyTorch modules computing the same
# (Keras's leaky_relu has slope 0.2; its gelu is the exact one; softmax acts on the last axis).
KERAS_ACTIVATIONS = {
    "linear": nn.Identity, "relu": nn.ReLU, "relu6": nn.ReLU6, "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU, "selu": nn.SELU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "hard_sigmoid": nn.Hardsigmoid,
    "tanh": nn.Tanh, "softplus": nn.Softplus, "softsign": nn.Softsign, "mish": nn.Mish, "silu": nn.SiLU,
    "swish": nn.SiLU, "hard_silu": nn.Hardswish, "hard_swish": nn.Hardswish, "softmax": lambda: nn.Softmax(-1),
    "log_softmax": lambda: nn.LogSoftmax(-1),
}


def keras_activation_case(draw, cls):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    name = draw(st.sampled_from(sorted(KERAS_ACTIVATIONS) + ["celu", "relu7"]))  # names compare as type names do: case and "_" aside
    spelled = draw(st.sampled_from([name, name.upper(), name.replace("_", "")]))

    def build(x_shape):
        if name not in KERAS_ACTIVATIONS:
            raise ValueError(f"no such Keras activation in cnncalc: {name}")
        return KERAS_ACTIVATIONS[name]()

    return shape, [{cls.type_name: spelled}], build


# Families in the order of their class hierarchy: the first matching base wins.
FAMILIES = [
    (conv_mod.ConvTranspose, conv_transpose_case),
    (conv_mod.SeparableConv, separable_case),
    (conv_mod.DepthwiseConv, depthwise_case),
    (conv_mod.Conv, conv_case),
    (pool_mod.AdaptivePool, adaptive_case),
    (pool_mod.GlobalPool, global_case),
    (pool_mod.LPPool, lppool_case),
    (pool_mod.Pool, pool_case),
    (dense_mod.Linear, linear_case),
    (dense_mod.LayerNorm, layernorm_case),
    (dense_mod.GroupNorm, groupnorm_case),
    (dense_mod.Norm, norm_case),
    (act_mod.KerasActivation, keras_activation_case),
    (preprocess_mod.Rescaling, rescaling_case),
    (preprocess_mod.Normalization, normalization_case),
    (act_mod.PReLU, prelu_case),
    (act_mod.Softmax, softmax_case),
    (act_mod.Activation, activation_case),
    (shape_mod.Dropout, dropout_case),
    (shape_mod.Flatten, flatten_case),
    (shape_mod.Reshape, reshape_case),
    (shape_mod.Pad, pad_case),
    (shape_mod.Crop, crop_case),
    (shape_mod.Upsample, upsample_case),
    (shape_mod.PixelShuffle, pixel_shuffle_case),
    (merge_mod.Elementwise, elementwise_case),
    (merge_mod.Concat, concat_case),
    (split_mod.Cut, cut_case),
    (extra_mod.Scale, scale_case),
    (extra_mod.StochasticDepth, stochastic_depth_case),
    (extra_mod.Embedding, embedding_case),
    (shape_mod.Permute, permute_case),
    (shape_mod.ChannelShuffle, channel_shuffle_case),
]


def family_of(cls):
    for base, case in FAMILIES:
        if issubclass(cls, base):
            return case
    return None


def all_types():
    return list(REGISTRY.types)
