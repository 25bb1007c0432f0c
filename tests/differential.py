"""Random networks written both as a cnncalc YAML document and, independently from the
same raw attributes, as PyTorch modules.

A network has a trunk of layers with residual branches (add) and parallel branches
(concat); it may also have several inputs (a second image joined by concat, a vector
joined at the classifier or returned through its own layer), several outputs (any
layers, and the parts of a split or chunk, returned in the order listed), layers cut by
`split` or `chunk` whose parts are read separately (NAME.i) and processed apart before
they are joined again, and layers that apply an earlier layer's weights (`share:`),
which PyTorch writes as one module called twice.

Some layers are frozen (`trainable: false`; PyTorch: requires_grad_(False)).

`case(seed, broken)` draws one network from random.Random(seed). With `broken`, one step
is drawn without the constraints that make it valid (a kernel larger than its input,
groups that do not divide the channels, a branch whose shape differs from the trunk's,
split sizes that do not add up, a part past the last one, a shared layer on another
channel count, an image joined at another size, a multi-output layer returned without
an index), so that PyTorch usually rejects it, and cnncalc then must too. Shared by
tests/test_differential.py (a few hundred seeds in CI) and scripts/differential.py (as
many as you like).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "hardswish": nn.Hardswish,
    "softplus": nn.Softplus,
    "mish": nn.Mish,
    "relu6": nn.ReLU6,
}


class KerasNormalization(nn.Module):
    """keras.layers.Normalization at inference (its call()): (x - mean) / maximum(sqrt(variance),
    1e-7) per channel; its state is mean, variance and count, as Keras adds them."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.randn(channels) * 0.5)
        self.register_buffer("variance", torch.rand(channels) + 0.5)
        self.register_buffer("count", torch.zeros(()))

    def forward(self, x):
        deviation = torch.clamp(torch.sqrt(self.variance), min=1e-7).view(1, -1, 1, 1)
        return (x - self.mean.view(1, -1, 1, 1)) / deviation


class Unreadable(Exception):
    """The PyTorch network cannot hand back what the document asks for (a layer with
    several outputs returned whole): its side of 'both reject'."""


class LayerScale(nn.Module):
    """A learnt multiplier per channel (and a shift): ConvNeXt's layer scale, as torchvision
    applies it (layer_scale * x over dim 1)."""

    def __init__(self, channels: int, bias: bool):
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(channels) + 0.5)
        self.beta = nn.Parameter(torch.rand(channels) - 0.5) if bias else None

    def forward(self, x):
        y = x * self.gamma.view(1, -1, 1, 1)
        return y if self.beta is None else y + self.beta.view(1, -1, 1, 1)


def call(module, *values):
    return module(*values)


def invalid(module, *values):
    raise ValueError("this configuration does not exist in PyTorch")


@dataclass
class Op:
    """One layer on the PyTorch side: its module (None for a function of its inputs), the
    function applying it, the values it reads, and the layer whose module it calls (share)."""

    name: str
    inputs: list[str]
    module: nn.Module | None
    function: Callable = call
    share: str | None = None
    parts: int = 0  # how many values it gives (split, chunk); 0: one value, NAME


@dataclass
class Case:
    seed: int
    inputs: dict[str, list[int]]
    layers: list[dict] = field(default_factory=list)  # YAML entries
    ops: list[Op] = field(default_factory=list)
    outputs: list[str] | None = None  # None: the default, the last layer (all its parts)
    named: bool = False  # `inputs:` even for one input

    @property
    def input(self) -> list[int]:
        """The first input's shape (the only one, for most cases)."""
        return next(iter(self.inputs.values()))

    @property
    def document(self) -> dict:
        doc: dict = {"name": f"random-{self.seed}"}
        if self.named or len(self.inputs) > 1:
            doc["inputs"] = self.inputs
        else:
            doc["input"] = self.input
        if self.outputs is not None:
            doc["outputs"] = self.outputs
        doc["layers"] = self.layers
        return doc

    @property
    def text(self) -> str:
        """The document as cnncalc reads it (YAML)."""
        import yaml

        return yaml.safe_dump(self.document, sort_keys=False)

    @property
    def returned(self) -> list[str]:
        """The values the network returns, in order."""
        if self.outputs is not None:
            return self.outputs
        last = self.ops[-1]
        return [f"{last.name}.{i}" for i in range(last.parts)] if last.parts else [last.name]


class Net(nn.Module):
    """The case's PyTorch network: modules under the cnncalc names (a shared layer's
    module once, under its owner's name), run in file order; returns a tuple."""

    def __init__(self, ops: list[Op], input_names: list[str], returned: list[str]):
        super().__init__()
        self.ops, self.input_names, self.returned = ops, input_names, returned
        self.layers = nn.ModuleDict({op.name: op.module for op in ops if op.module is not None and op.share is None})

    def forward(self, *inputs):
        values = dict(zip(self.input_names, inputs))
        self.values = values
        for op in self.ops:
            module = self.layers[op.share or op.name] if op.module is not None else None
            missing = [i for i in op.inputs if i not in values]
            if missing:
                raise IndexError(f"{op.name} reads {missing[0]}, which no layer gives")
            out = op.function(module, *[values[i] for i in op.inputs])
            if op.parts:
                if len(out) != op.parts:
                    raise IndexError(f"{op.name} gives {len(out)} parts, not {op.parts}")
                values.update({f"{op.name}.{i}": part for i, part in enumerate(out)})
            else:
                values[op.name] = out
        for name in self.returned:
            if name not in values:
                raise Unreadable(f"'{name}' is not one value")
        return tuple(values[name] for name in self.returned)


def needed(ops: list[Op], returned: list[str]) -> tuple[set[str], set[str]]:
    """The layers some returned value depends on, and the values they read (inputs
    included); found on the PyTorch side, without cnncalc."""
    producer = {name: op.name for op in ops for name in ([op.name] if not op.parts else [f"{op.name}.{i}" for i in range(op.parts)])}
    wanted = {producer.get(value, value) for value in returned}
    read: set[str] = set()
    for op in reversed(ops):
        if op.name in wanted:
            read.update(op.inputs)
            wanted.update(producer.get(value, value) for value in op.inputs)
    return {op.name for op in ops if op.name in wanted}, read


def window(k: int = 1, s: int = 1, p: int = 0, d: int = 1):
    """The output size of a convolution's window along one axis, as a function of the input's."""
    return lambda n: (n + 2 * p - d * (k - 1) - 1) // s + 1


class Drawer:
    def __init__(self, rng: random.Random, case: Case):
        self.rng = rng
        self.case = case
        self.count = 0
        self.last_value = next(iter(case.inputs))
        # layers whose weights a later layer may apply: (name, entry, input shape, output size rule)
        self.shareable: list[tuple[str, dict, list[int], Callable]] = []
        self.values: list[str] = []  # every value a layer gives (NAME, NAME.i): output candidates

    def add(self, entry: dict, inputs: list[str], module, function=call, merge: bool = False,
            share: str | None = None, parts: int = 0) -> str:
        """A layer: its YAML entry (inputs in `from`, or in the entry itself for a merge)."""
        self.count += 1
        name = f"l{self.count}"
        entry = {**entry, "name": name}
        inputs = inputs or [self.last_value]
        if not merge and (inputs != [self.previous()] or self.count == 1):
            entry["from"] = inputs if len(inputs) > 1 else inputs[0]
        if share is not None:
            entry["share"] = share
        elif module is not None and any(True for _ in module.parameters()) and self.rng.random() < 0.12:
            entry["trainable"] = False  # PyTorch: requires_grad_(False)
            module.requires_grad_(False)
        self.case.layers.append(entry)
        self.case.ops.append(Op(name, inputs, module, function, share, parts))
        self.last_value = name if not parts else f"{name}.0"
        self.values.extend([name] if not parts else [f"{name}.{i}" for i in range(parts)])
        return name

    def previous(self) -> str | None:
        """What a layer without `from` reads: the layer above, if it has one value."""
        if not self.case.ops:
            return None
        return self.case.ops[-1].name if not self.case.ops[-1].parts else None

    # -- one layer on a (C, H, W) value ------------------------------------------------------
    def layer(self, shape: list[int], source: str, broken: bool, kinds=None) -> tuple[str, list[int] | None]:
        """A random layer reading `source`; returns its name and its shape if known valid."""
        r = self.rng
        c, h, w = shape
        kind = r.choice(kinds or ["conv", "conv", "convt", "depthwise", "maxpool", "avgpool", "adaptive", "bn", "gn",
                                  "act", "act", "prelu", "pad", "upsample", "shuffle", "dropout", "instancenorm",
                                  "scale", "channel_shuffle", "stochastic_depth", "lppool", "permute", "like",
                                  "rescaling", "normalization", "keras_act"])
        inputs = [source]
        if kind == "conv":
            out = r.randint(1, 8)
            groups = r.choice([g for g in range(1, c + 1) if c % g == 0 and out % g == 0]) if not broken else r.randint(1, 4)
            k, s, d = r.randint(1, 4), r.randint(1, 3), r.randint(1, 2)
            p = r.randint(0, 2)
            if broken:
                k = r.randint(1, max(h, w) + 4)
            bias = r.random() < 0.5
            attrs = {"out": out, "kernel": k, "stride": s, "padding": p, "dilation": d, "groups": groups, "bias": bias}
            module = nn.Conv2d(c, out, k, s, p, d, groups=groups, bias=bias) if c % groups == 0 and out % groups == 0 else None
            if module is None:
                return self.add({"conv2d": attrs}, inputs, nn.Identity(), invalid), None
            size = window(k, s, p, d)
            name = self.add({"conv2d": attrs}, inputs, module)
            self.shareable.append((name, {"conv2d": attrs}, shape, lambda sh: [out, size(sh[1]), size(sh[2])]))
            return name, [out, size(h), size(w)]
        if kind == "convt":
            out, k, s = r.randint(1, 6), r.randint(1, 3), r.randint(1, 2)
            p = r.randint(0, 1)
            extra = r.randint(0, s - 1)
            attrs = {"out": out, "kernel": k, "stride": s, "padding": p, "output_padding": extra}
            size = lambda n: (n - 1) * s - 2 * p + k + extra  # noqa: E731
            name = self.add({"conv_transpose2d": attrs}, inputs, nn.ConvTranspose2d(c, out, k, s, p, extra))
            self.shareable.append((name, {"conv_transpose2d": attrs}, shape, lambda sh: [out, size(sh[1]), size(sh[2])]))
            return name, [out, size(h), size(w)]
        if kind == "depthwise":
            k, m = r.randint(1, 3), r.randint(1, 2)
            p = k // 2
            attrs = {"kernel": k, "padding": p, "multiplier": m}
            name = self.add({"depthwise_conv2d": attrs}, inputs, nn.Conv2d(c, c * m, k, 1, p, groups=c))
            rule = lambda sh: [sh[0] * m, sh[1] + 2 * p - k + 1, sh[2] + 2 * p - k + 1]  # noqa: E731
            self.shareable.append((name, {"depthwise_conv2d": attrs}, shape, rule))
            return name, [c * m, h + 2 * p - k + 1, w + 2 * p - k + 1]
        if kind in ("maxpool", "avgpool"):
            k, s = r.randint(1, 3), r.randint(1, 3)
            p = r.randint(0, k // 2) if not broken else r.randint(0, k)
            ceil = r.random() < 0.3
            if kind == "maxpool":
                module = nn.MaxPool2d(k, s, p, ceil_mode=ceil)
            else:
                include = r.random() < 0.5
                module = nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=include)
            attrs = {"kernel": k, "stride": s, "padding": p, "ceil_mode": ceil}
            if kind == "avgpool":
                attrs["count_include_pad"] = module.count_include_pad
            return self.add({f"{kind}2d": attrs}, inputs, module), None  # size: let PyTorch say
        if kind == "adaptive":
            size = [r.randint(1, max(1, h)), r.randint(1, max(1, w))]
            pool = r.choice(["avg", "max"])
            module = nn.AdaptiveAvgPool2d(size) if pool == "avg" else nn.AdaptiveMaxPool2d(size)
            return self.add({f"adaptive_{pool}pool2d": size}, inputs, module), [c, *size]
        if kind == "bn":
            name = self.add({"batchnorm": None}, inputs, nn.BatchNorm2d(c))
            self.shareable.append((name, {"batchnorm": None}, shape, lambda sh: sh))
            return name, shape
        if kind == "instancenorm":
            name = self.add({"instancenorm": {"affine": True}}, inputs, nn.InstanceNorm2d(c, affine=True))
            self.shareable.append((name, {"instancenorm": {"affine": True}}, shape, lambda sh: sh))
            return name, shape
        if kind == "gn":
            groups = r.choice([g for g in range(1, c + 1) if c % g == 0]) if not broken else r.randint(1, 5)
            module = nn.GroupNorm(groups, c) if c % groups == 0 else None
            name = self.add({"groupnorm": groups}, inputs, module or nn.Identity(), call if module else invalid)
            if module is not None:
                self.shareable.append((name, {"groupnorm": groups}, shape, lambda sh: sh))
            return name, shape if module else None
        if kind == "act":
            name = r.choice(sorted(ACTIVATIONS))
            return self.add({name: None}, inputs, ACTIVATIONS[name]()), shape
        if kind == "rescaling":  # Keras's Rescaling: x * scale + offset, a number or one per channel
            scale = r.choice([0.5, -2.0, [r.choice([0.25, 1.5, -1.0]) for _ in range(c)]])
            offset = r.choice([0.0, 3.0, [r.choice([0.5, -1.0]) for _ in range(c)]])
            def rescale(m, x, scale=scale, offset=offset):
                along = lambda v: torch.tensor(v, dtype=x.dtype).view(1, -1, 1, 1) if isinstance(v, list) else v  # noqa: E731
                return x * along(scale) + along(offset)
            return self.add({"rescaling": {"scale": scale, "offset": offset}}, inputs, None, rescale), shape
        if kind == "normalization":  # Keras's Normalization: stored mean, variance, count per channel
            name = self.add({"normalization": None}, inputs, KerasNormalization(c))
            return name, shape
        if kind == "keras_act":  # Keras's Activation by name, with Keras's meaning of it
            function, module = r.choice([("relu", nn.ReLU), ("swish", nn.SiLU), ("hard_sigmoid", nn.Hardsigmoid),
                                         ("leaky_relu", lambda: nn.LeakyReLU(0.2)), ("gelu", nn.GELU)])
            return self.add({"activation": function}, inputs, module()), shape
        if kind == "prelu":
            count = r.choice([1, c])
            name = self.add({"prelu": {"num_parameters": count}}, inputs, nn.PReLU(count))
            self.shareable.append((name, {"prelu": {"num_parameters": count}}, shape, lambda sh: sh))
            return name, shape
        if kind == "pad":
            pads = [[r.randint(0, 2), r.randint(0, 2)], [r.randint(0, 2), r.randint(0, 2)]]
            mode = r.choice(["constant", "reflect", "replicate"])
            flat = [pads[1][0], pads[1][1], pads[0][0], pads[0][1]]
            return self.add({"pad": {"padding": pads, "mode": mode}}, inputs, None, lambda m, x: F.pad(x, flat, mode=mode)), None
        if kind == "upsample":
            mode = r.choice(["nearest", "bilinear"])
            return self.add({"upsample": {"scale": 2, "mode": mode}}, inputs, nn.Upsample(scale_factor=2.0, mode=mode)), [c, 2 * h, 2 * w]
        if kind == "shuffle" and (c % 4 == 0 or broken):
            return self.add({"pixel_shuffle": 2}, inputs, nn.PixelShuffle(2)), [c // 4, 2 * h, 2 * w] if c % 4 == 0 else None
        if kind == "scale":
            bias = r.random() < 0.5
            entry = {"scale": {"bias": True} if bias else None}
            name = self.add(entry, inputs, LayerScale(c, bias))
            self.shareable.append((name, entry, shape, lambda sh: sh))
            return name, shape
        if kind == "channel_shuffle":
            groups = r.choice([g for g in range(1, c + 1) if c % g == 0]) if not broken else r.randint(2, 5)
            return self.add({"channel_shuffle": groups}, inputs, nn.ChannelShuffle(groups)), shape if c % groups == 0 else None
        if kind == "stochastic_depth":
            return self.add({"stochastic_depth": 0.2}, inputs, None, lambda m, x: x), shape  # torchvision's, in eval mode
        if kind == "lppool":
            k, s = r.randint(1, 3) if not broken else r.randint(1, max(h, w) + 3), r.randint(1, 3)
            norm = r.choice([1, 2, 3])
            module = nn.LPPool2d(norm, k, s, ceil_mode=r.random() < 0.3)
            attrs = {"norm_type": norm, "kernel": k, "stride": s, "ceil_mode": module.ceil_mode}
            return self.add({"lppool2d": attrs}, inputs, module), None  # size: let PyTorch say
        if kind == "like" and min(h, w) >= 2:  # pooled, then resized to its input's size (DeepLab's ASPP pooling)
            mode = r.choice(["nearest", "bilinear"])
            pooled = self.add({"maxpool2d": 2}, inputs, nn.MaxPool2d(2))
            entry = {"upsample": {"like": source, "mode": mode}}
            resize = lambda m, x, ref: F.interpolate(x, size=ref.shape[2:], mode=mode)  # noqa: E731
            return self.add(entry, [pooled, source], None, resize, merge=True), shape
        if kind == "permute":  # to channels-last and back (torchvision's ConvNeXt block does this)
            there = self.add({"permute": [0, 2, 3, 1]}, inputs, None, lambda m, x: x.permute(0, 2, 3, 1))
            return self.add({"permute": [3, 1, 2]}, [there], None, lambda m, x: x.permute(0, 3, 1, 2)), shape
        return self.add({"dropout": 0.2}, inputs, nn.Dropout(0.2)), shape

    def keeping(self, shape: list[int], source: str) -> tuple[str, list[int]]:
        """A layer that keeps the shape of its input (on a part of a split, on a second
        image): sometimes one applying an earlier layer's weights."""
        r = self.rng
        alike = [s for s in self.shareable if s[2][0] == shape[0] and s[3](shape) == shape]
        if alike and r.random() < 0.25:  # an earlier layer's weights, applied here too
            owner, entry, _, _ = r.choice(alike)
            module = next(op.module for op in self.case.ops if op.name == owner)
            return self.add(copy.deepcopy(entry), [source], module, share=owner), shape
        if r.random() < 0.35:  # a 'same' convolution with as many channels out as in
            k = r.choice([1, 3])
            c = shape[0]
            attrs = {"out": c, "kernel": k, "padding": k // 2}
            name = self.add({"conv2d": attrs}, [source], nn.Conv2d(c, c, k, padding=k // 2))
            rule = lambda sh: [c, sh[1] + 2 * (k // 2) - k + 1, sh[2] + 2 * (k // 2) - k + 1]  # noqa: E731
            self.shareable.append((name, {"conv2d": attrs}, shape, rule))
            return name, shape
        name, _ = self.layer(shape, source, False, kinds=["act", "bn", "prelu", "dropout", "instancenorm"])
        return name, shape

    # -- the graph language's steps ----------------------------------------------------------
    def split(self, shape: list[int], source: str, broken: bool) -> tuple[str, list[int] | None]:
        """Cut the value with split or chunk, process some parts apart, join them again (or
        go on with one part). Returns the value the trunk goes on from, and its shape."""
        r = self.rng
        c, h, w = shape
        axis = 1 if r.random() < 0.75 else r.choice([2, 3])
        length = shape[axis - 1]
        if length < 2 and not broken:
            return self.layer(shape, source, False)
        if r.random() < 0.5:  # chunk: equal parts (cnncalc refuses torch.chunk's unequal ones)
            count = r.choice([n for n in (2, 3, 4) if length % n == 0] or [2])
            if broken:
                count = r.randint(2, 5)
            sizes = [length // count] * count if length % count == 0 else None
            entry = {"chunk": count if axis == 1 else {"chunks": count, "axis": axis}}

            def function(m, x, count=count, axis=axis):
                parts = torch.chunk(x, count, dim=axis)
                if len(parts) != count or len({p.shape for p in parts}) != 1:
                    raise ValueError(f"torch.chunk gives unequal parts: {[p.shape[axis] for p in parts]}")
                return parts
        else:  # split: the sizes written out
            count = r.randint(2, min(3, max(2, length)))
            cuts = sorted(r.sample(range(1, length), count - 1)) if length >= count else [1] * (count - 1)
            sizes = [b - a for a, b in zip([0, *cuts], [*cuts, length])]
            if broken:
                sizes[r.randrange(count)] += r.choice([-1, 1, 2])
            entry = {"split": sizes if axis == 1 else {"sizes": sizes, "axis": axis}}
            def function(m, x, sizes=sizes, axis=axis):
                if min(sizes) < 1:  # torch.split makes an empty part; an empty value is refused on both sides
                    raise ValueError(f"an empty part: {sizes}")
                return torch.split(x, sizes, dim=axis)
            if min(sizes) < 1 or sum(sizes) != length:
                sizes = None
        name = self.add(entry, [source], None, function, parts=count)
        if sizes is None:
            return name + ".0", None
        parts = []
        for i, size in enumerate(sizes):
            part_shape = list(shape)
            part_shape[axis - 1] = size
            value = f"{name}.{i}"
            if r.random() < 0.6:
                value, part_shape = self.keeping(part_shape, value)
            parts.append((value, part_shape))
        join = r.random()
        if broken and join < 0.3:  # a part past the last one
            past = f"{name}.{count}"
            return self.add({"relu": None}, [past], nn.ReLU()), None
        if join < 0.5 and len(set(sizes)) == 1:  # equal parts: add them
            values = [value for value, _ in parts]
            merged = self.add({"add": values}, values, None, lambda m, *xs: sum(xs[1:], xs[0]), merge=True)
            return merged, parts[0][1]
        if join < 0.85:  # joined again along the same axis, in any order
            r.shuffle(parts)
            values = [value for value, _ in parts]
            entry = {"concat": values} if axis == 1 else {"concat": {"axis": axis}, "from": values}
            merged = self.add(entry, values, None, lambda m, *xs, axis=axis: torch.cat(xs, dim=axis), merge=True)
            joined = list(shape)
            return merged, joined
        value, part_shape = r.choice(parts)  # one part goes on; the others are read by no one
        return value, part_shape

    def share(self, shape: list[int], source: str, broken: bool) -> tuple[str, list[int] | None] | None:
        """A layer applying an earlier layer's weights: the same entry with share: NAME.
        Valid: one whose input had as many channels; broken: any."""
        fits = [s for s in self.shareable if s[2][0] == shape[0]]
        pool = self.shareable if broken else fits
        if not pool:
            return None
        owner, entry, owner_shape, rule = self.rng.choice(pool)
        out = rule(shape)
        module = next(op.module for op in self.case.ops if op.name == owner)
        name = self.add(copy.deepcopy(entry), [source], module, share=owner)
        return name, out if owner_shape[0] == shape[0] and min(out) >= 1 else None

    def join_image(self, shape: list[int], source: str, other: str, other_shape: list[int], broken: bool) -> tuple[str, list[int] | None]:
        """A second image joined to the trunk by concat, pooled to the trunk's size first
        (adaptive average pooling) unless the sizes already agree, or in a broken case."""
        value, value_shape = other, other_shape
        if other_shape[1:] != shape[1:] and not broken:
            value = self.add({"adaptive_avgpool2d": shape[1:]}, [other], nn.AdaptiveAvgPool2d(shape[1:]))
            value_shape = [other_shape[0], *shape[1:]]
        if self.rng.random() < 0.5:
            value, value_shape = self.keeping(value_shape, value)
        values = [source, value] if self.rng.random() < 0.5 else [value, source]
        merged = self.add({"concat": values}, values, None, lambda m, a, b: torch.cat([a, b], dim=1), merge=True)
        return merged, [shape[0] + value_shape[0], *shape[1:]] if value_shape[1:] == shape[1:] else None


def case(seed: int, broken: bool = False) -> Case:
    """A random network: a trunk of layers, with residual branches (add), parallel
    branches (concat), splits and shared layers; perhaps a second image and a vector as
    further inputs; ending in a classifier head half of the time; returning the last
    layer or a few values chosen anywhere."""
    rng = random.Random(seed)
    c, h, w = rng.randint(1, 6), rng.randint(4, 14), rng.randint(4, 14)
    inputs = {"x0": [c, h, w]} if rng.random() < 0.3 else {"input": [c, h, w]}
    extra = rng.random()
    if extra < 0.2:  # a second image, of the same size or not
        inputs["x1"] = [rng.randint(1, 4), *((h, w) if rng.random() < 0.5 else (rng.randint(3, 12), rng.randint(3, 12)))]
    elif extra < 0.35:  # a vector (metadata)
        inputs["v"] = [rng.randint(1, 6)]
    if len(inputs) > 1 and "input" in inputs:
        inputs = {("x0" if k == "input" else k): v for k, v in inputs.items()}
    built = Case(seed, inputs, named="x0" in inputs)
    draw = Drawer(rng, built)
    shape: list[int] | None = [c, h, w]
    broken_at = rng.randint(0, 5) if broken else -1
    image_joined = "x1" not in inputs
    for step in range(rng.randint(1, 6)):
        source = draw.last_value
        if shape is None:  # an unknown size after pooling or padding: ask PyTorch's rule
            break
        is_broken = step == broken_at
        if not image_joined and rng.random() < 0.4:
            source, shape = draw.join_image(shape, source, "x1", inputs["x1"], is_broken)
            image_joined = True
            continue
        kind = rng.random()
        if kind < 0.15 and not is_broken:  # residual: a shape-keeping branch added to the trunk
            c_now = shape[0]
            k = rng.choice([1, 3])
            branch = draw.add({"conv2d": {"out": c_now, "kernel": k, "padding": k // 2}}, [source], nn.Conv2d(c_now, c_now, k, padding=k // 2))
            draw.add({"add": [source, branch]}, [source, branch], None, lambda m, a, b: a + b, merge=True)
            continue
        if kind < 0.27:  # parallel branches joined along the channels
            left, left_shape = draw.layer(shape, source, is_broken)
            right, right_shape = draw.layer(shape, source, False)
            draw.add({"concat": [left, right]}, [left, right], None, lambda m, a, b: torch.cat([a, b], dim=1), merge=True)
            shape = None if left_shape is None or right_shape is None else [left_shape[0] + right_shape[0], *left_shape[1:]]
            if shape is not None and left_shape[1:] != right_shape[1:]:
                shape = None
            continue
        if kind < 0.33 and not is_broken:  # a dead end: layers on the side that nothing reads (unless returned)
            side, side_shape = draw.layer(shape, source, False)
            if side_shape is not None and rng.random() < 0.7:
                draw.keeping(side_shape, side)
            draw.last_value = source
            continue
        if kind < 0.45:  # split or chunk, parts read apart
            value, shape = draw.split(shape, source, is_broken)
            draw.last_value = value
            continue
        if kind < 0.58:  # a shared layer
            shared = draw.share(shape, source, is_broken)
            if shared is not None:
                _, shape = shared
                continue
        _, shape = draw.layer(shape, source, is_broken)
    vector_used = False
    if rng.random() < 0.5:  # a classifier head; torch_net sizes the linear layer
        flat = draw.add({"flatten": None}, [], nn.Flatten())
        if "v" in inputs and rng.random() < 0.7:
            draw.add({"concat": [flat, "v"]}, [flat, "v"], None, lambda m, a, b: torch.cat([a, b], dim=1), merge=True)
            vector_used = True
        draw.add({"linear": {"out": rng.randint(1, 10)}}, [], None, invalid)
    last = built.ops[-1]
    side = None
    if "v" in inputs and not vector_used and rng.random() < 0.7:  # the vector's own output
        count = inputs["v"][0]
        side = draw.add({"linear": {"out": rng.randint(1, 6)}}, ["v"], None, invalid)
        built.ops[-1].function = linear_of(count, built.layers[-1]["linear"]["out"])
    # The outputs: the default (the last layer written) or a few values listed.
    if side is None and rng.random() < 0.5:
        built.outputs = None
    else:
        pool = [v for v in draw.values]
        chosen = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
        if last.name not in chosen and not last.parts and rng.random() < 0.6:
            chosen.insert(0, last.name)
        if side is not None and side not in chosen:
            chosen.append(side)
        if broken and rng.random() < 0.3:  # a layer with several outputs, returned whole
            whole = [op.name for op in built.ops if op.parts]
            if whole:
                chosen.append(rng.choice(whole))
        built.outputs = list(dict.fromkeys(chosen))
    return built


def linear_of(features: int, out: int):
    """A linear layer of known input size: its module is made by torch_net."""
    marker = lambda m, x: m(x)  # noqa: E731
    marker.features = (features, out)
    return marker


def torch_net(built: Case) -> Net:
    """The PyTorch network; a linear layer on the flattened trunk learns its input size
    from a dry run of the layers before it."""
    ops = [Op(op.name, list(op.inputs), op.module, op.function, op.share, op.parts) for op in built.ops]
    names = list(built.inputs)
    for index, op in enumerate(ops):
        if getattr(op.function, "features", None):
            features, out = op.function.features
            op.module, op.function = nn.Linear(features, out), call
        elif op.function is invalid and "linear" in built.layers[index]:
            probe = Net(ops[:index], names, [op.inputs[0]]).double().eval()
            with torch.no_grad():
                (value,) = probe(*[torch.zeros(1, *shape, dtype=torch.float64) for shape in built.inputs.values()])
            op.module, op.function = nn.Linear(value.shape[-1], built.layers[index]["linear"]["out"]), call
    return Net(ops, names, built.returned).double().eval()


def statistics(net: nn.Module, rng: random.Random) -> None:
    """BatchNorm's running statistics away from 0 and 1."""
    with torch.no_grad():
        for name, buffer in net.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.tensor([rng.uniform(-0.5, 0.5) for _ in range(buffer.numel())], dtype=buffer.dtype))
            elif name.endswith("running_var"):
                buffer.copy_(torch.tensor([rng.uniform(0.5, 2.0) for _ in range(buffer.numel())], dtype=buffer.dtype))


TORCH_REJECTS = (RuntimeError, ValueError, IndexError, Unreadable)


def compare(seed: int, broken: bool) -> str:
    """Run one case on both sides: 'agree', 'both reject', or raise AssertionError."""
    import numpy as np

    import cnncalc
    from cnncalc.errors import CnnError
    from cnncalc.forward.runner import execute

    built = case(seed, broken)
    try:
        net = cnncalc.loads(built.text, format="yaml", path="case.yaml")
        summary = cnncalc.summary(net, batch=2)
        ours = None
    except CnnError as exc:
        ours, net, summary = exc, None, None
    generator = np.random.default_rng(seed)
    feeds = {name: generator.normal(size=(2, *shape)) for name, shape in built.inputs.items()}
    try:
        model = torch_net(built)
        statistics(model, random.Random(seed))
        with torch.no_grad():
            model(*[torch.from_numpy(x[:1]) for x in feeds.values()])  # one sample, as cnncalc analyses (GroupNorm's rule)
            theirs_out = [o.numpy() for o in model(*[torch.from_numpy(x) for x in feeds.values()])]
        theirs = None if all(o.size for o in theirs_out) else ValueError("empty output")
    except TORCH_REJECTS as exc:
        theirs = exc
    assert (ours is None) == (theirs is None), f"seed {seed} broken={broken}\ncnncalc: {ours!r}\nPyTorch: {theirs!r}\n{built.text}"
    if ours is not None:
        assert ours.location is not None
        return "both reject"
    where = f"seed {seed} broken={broken}\n{built.text}"
    values = model.values
    # Every layer's shape; for a split or chunk, every part's.
    for row in summary.layers:
        op = next(op for op in built.ops if op.name == row.name)
        got = tuple(tuple(values[f"{row.name}.{i}"].shape[1:]) for i in range(op.parts)) if op.parts else tuple(values[row.name].shape[1:])
        assert got == row.output_shape, f"{where}\n{row.name}: cnncalc {row.output_shape}, PyTorch {got}"
    # The weights: a shared layer's are its owner's, held once.
    state = model.state_dict()
    weights = {f"layers.{row.name}.{w}": shape for row in summary.layers for w, shape in (*row.weights, *row.buffers)}
    theirs_weights = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert theirs_weights == weights, f"{where}\nweights: cnncalc {weights}\nPyTorch {theirs_weights}"
    assert sum(p.numel() for p in model.parameters()) == summary.totals.params, f"{where}\nparameter count"
    assert {row.name: row.shares for row in summary.layers} == {op.name: op.share for op in built.ops}, f"{where}\nshares"
    # What a Keras Model from the inputs to the outputs would hold, found on the PyTorch side.
    assert summary.outputs == tuple(built.returned), f"{where}\noutputs: cnncalc {summary.outputs}"
    used, read = needed(built.ops, built.returned)
    held = used | {op.share for op in built.ops if op.name in used and op.share}
    on_path = {row.name for row in summary.layers if row.on_output_path}
    assert on_path == held, (f"{where}\nlayers a Keras Model from the inputs to the outputs holds: cnncalc also "
                             f"{sorted(on_path - held)}, not {sorted(held - on_path)}")
    holding = [model.layers[name] for name in held if name in model.layers]
    kept = sum(p.numel() for m in holding for p in m.parameters()) + sum(  # Keras's Normalization keeps mean, variance, count
        b.numel() for m in holding for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var", "mean", "variance", "count")))
    keras = summary.totals.keras_trainable_params + summary.totals.keras_non_trainable_params
    assert keras == kept, f"{where}\nKeras total: cnncalc {keras}, the layers on a path hold {kept}"
    # Frozen layers (trainable: false): PyTorch's requires_grad, everywhere and on the path.
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert summary.totals.trainable_params == trainable, f"{where}\ntrainable: cnncalc {summary.totals.trainable_params}, PyTorch {trainable}"
    trainable = sum(p.numel() for m in holding for p in m.parameters() if p.requires_grad)
    assert summary.totals.keras_trainable_params == trainable, f"{where}\nKeras trainable: cnncalc {summary.totals.keras_trainable_params}, PyTorch {trainable}"
    dead = len(built.ops) - len(used)
    said = [w for w in summary.warnings if "on no path to an output" in w]
    assert (said[0].startswith(f"{dead} layer") if dead else not said), (where, summary.warnings)
    unread = [name for name in built.inputs if name not in read and len(built.inputs) > 1]
    assert [w for w in summary.warnings if w.startswith("the input '")] == [
        f"the input '{name}' is read by no layer on a path to an output" for name in unread], (where, summary.warnings)
    # The values, in float64, output by output.
    params = {
        row.name: {w: state[f"layers.{row.name}.{w}"].numpy() for w, _ in (*row.weights, *row.buffers)} for row in summary.layers
    }
    ours_out = execute(net, params, feeds if len(feeds) > 1 or built.named else next(iter(feeds.values())))[0]
    ours_out = ours_out if isinstance(ours_out, tuple) else (ours_out,)
    assert len(ours_out) == len(theirs_out), f"{where}\n{len(ours_out)} outputs, PyTorch {len(theirs_out)}"
    for got, expected in zip(ours_out, theirs_out):
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * scale, err_msg=where)
    # float32, with Winograd's F(4x4) for every convolution it applies to and the activations
    # fused into the layers before them, as `cnncalc run` does: float32's tolerance of
    # PyTorch's float64 values.
    from cnncalc.forward.runner import fuse_epilogues
    from cnncalc.layers import kernels

    single = {layer: {w: a.astype(np.float32) for w, a in tensors.items()} for layer, tensors in params.items()}
    inputs32 = {name: x.astype(np.float32) for name, x in feeds.items()}
    epilogues, fused = fuse_epilogues(net)
    chosen = kernels.conv_algorithm
    kernels.conv_algorithm = lambda *args: 4 if kernels.winograd_applies(*args) else 0
    try:
        ours32 = execute(net, single, inputs32 if len(inputs32) > 1 or built.named else next(iter(inputs32.values())),
                         folded=fused, epilogues=epilogues)[0]
    finally:
        kernels.conv_algorithm = chosen
    for got, expected in zip(ours32 if isinstance(ours32, tuple) else (ours32,), theirs_out):
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * scale, err_msg=f"{where}\nfloat32")
    return "agree"
