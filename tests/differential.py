"""Random multi-layer networks, with branches joined by add and concat, written both as a
cnncalc YAML document and, independently from the same raw attributes, as PyTorch modules.

`case(seed, broken)` draws one network from random.Random(seed). With `broken`, one layer
is drawn without the constraints that make it valid (a kernel larger than its input,
groups that do not divide the channels, a branch whose shape differs from the trunk's),
so that PyTorch usually rejects it, and cnncalc then must too. Shared by
tests/test_differential.py (a few hundred seeds in CI) and scripts/differential.py (as
many as you like).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

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


@dataclass
class Case:
    seed: int
    input: list[int]
    layers: list[dict] = field(default_factory=list)  # YAML entries
    ops: list[tuple] = field(default_factory=list)  # (name, inputs, module or None, function)

    @property
    def document(self) -> dict:
        return {"name": f"random-{self.seed}", "input": self.input, "layers": self.layers}

    @property
    def text(self) -> str:
        """The document as cnncalc reads it (YAML)."""
        import yaml

        return yaml.safe_dump(self.document, sort_keys=False)


class Net(nn.Module):
    """The case's PyTorch network: modules under the cnncalc names, run in file order."""

    def __init__(self, ops):
        super().__init__()
        self.ops = ops
        self.layers = nn.ModuleDict({name: module for name, _, module, _ in ops if module is not None})

    def forward(self, x):
        values = {"input": x}
        for name, inputs, module, function in self.ops:
            values[name] = function(self.layers[name] if module is not None else None, *[values[i] for i in inputs])
        self.values = values
        return values[self.ops[-1][0]]


def call(module, x):
    return module(x)


class Drawer:
    def __init__(self, rng: random.Random, case: Case):
        self.rng = rng
        self.case = case
        self.count = 0

    def add(self, entry: dict, inputs: list[str], module, function=call, merge: bool = False) -> str:
        """A layer: its YAML entry (inputs in `from`, or in the entry itself for a merge)."""
        self.count += 1
        name = f"l{self.count}"
        entry = {**entry, "name": name}
        if inputs and not merge:
            entry["from"] = inputs if len(inputs) > 1 else inputs[0]
        self.case.layers.append(entry)
        self.case.ops.append((name, inputs or [self.last()], module, function))
        return name

    def last(self) -> str:
        return self.case.ops[-1][0] if self.case.ops else "input"

    # -- one layer on a (C, H, W) value ------------------------------------------------------
    def layer(self, shape: list[int], source: str, broken: bool) -> tuple[str, list[int] | None]:
        """A random layer reading `source`; returns its name and its shape if known valid."""
        r = self.rng
        c, h, w = shape
        kind = r.choice(["conv", "conv", "convt", "depthwise", "maxpool", "avgpool", "adaptive", "bn", "gn",
                         "act", "act", "prelu", "pad", "upsample", "shuffle", "dropout", "instancenorm"])
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
            size = lambda n: (n + 2 * p - d * (k - 1) - 1) // s + 1  # noqa: E731
            return self.add({"conv2d": attrs}, inputs, module), [out, size(h), size(w)]
        if kind == "convt":
            out, k, s = r.randint(1, 6), r.randint(1, 3), r.randint(1, 2)
            p = r.randint(0, 1)
            extra = r.randint(0, s - 1)
            attrs = {"out": out, "kernel": k, "stride": s, "padding": p, "output_padding": extra}
            size = lambda n: (n - 1) * s - 2 * p + k + extra  # noqa: E731
            return self.add({"conv_transpose2d": attrs}, inputs, nn.ConvTranspose2d(c, out, k, s, p, extra)), [out, size(h), size(w)]
        if kind == "depthwise":
            k, m = r.randint(1, 3), r.randint(1, 2)
            p = k // 2
            return self.add({"depthwise_conv2d": {"kernel": k, "padding": p, "multiplier": m}}, inputs, nn.Conv2d(c, c * m, k, 1, p, groups=c)), [c * m, h + 2 * p - k + 1, w + 2 * p - k + 1]
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
            return self.add({"batchnorm": None}, inputs, nn.BatchNorm2d(c)), shape
        if kind == "instancenorm":
            return self.add({"instancenorm": {"affine": True}}, inputs, nn.InstanceNorm2d(c, affine=True)), shape
        if kind == "gn":
            groups = r.choice([g for g in range(1, c + 1) if c % g == 0]) if not broken else r.randint(1, 5)
            module = nn.GroupNorm(groups, c) if c % groups == 0 else None
            return self.add({"groupnorm": groups}, inputs, module or nn.Identity(), call if module else invalid), shape if module else None
        if kind == "act":
            name = r.choice(sorted(ACTIVATIONS))
            return self.add({name: None}, inputs, ACTIVATIONS[name]()), shape
        if kind == "prelu":
            count = r.choice([1, c])
            return self.add({"prelu": {"num_parameters": count}}, inputs, nn.PReLU(count)), shape
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
        return self.add({"dropout": 0.2}, inputs, nn.Dropout(0.2)), shape


def invalid(module, x):
    raise ValueError("this configuration does not exist in PyTorch")


def case(seed: int, broken: bool = False) -> Case:
    """A random network: a trunk of layers, with residual branches (add) and parallel
    branches (concat), ending in a classifier head half of the time."""
    rng = random.Random(seed)
    c, h, w = rng.randint(1, 6), rng.randint(4, 14), rng.randint(4, 14)
    built = Case(seed, [c, h, w])
    draw = Drawer(rng, built)
    shape: list[int] | None = [c, h, w]
    broken_at = rng.randint(0, 5) if broken else -1
    for step in range(rng.randint(1, 6)):
        source = draw.last()
        if shape is None:  # an unknown size after pooling or padding: ask PyTorch's rule
            break
        kind = rng.random()
        if kind < 0.2 and step != broken_at:  # residual: a shape-keeping branch added to the trunk
            c_now = shape[0]
            k = rng.choice([1, 3])
            branch = draw.add({"conv2d": {"out": c_now, "kernel": k, "padding": k // 2}}, [source], nn.Conv2d(c_now, c_now, k, padding=k // 2))
            draw.add({"add": [source, branch]}, [source, branch], None, lambda m, a, b: a + b, merge=True)
            continue
        if kind < 0.35:  # parallel branches joined along the channels
            left, left_shape = draw.layer(shape, source, step == broken_at)
            right, right_shape = draw.layer(shape, source, False)
            draw.add({"concat": [left, right]}, [left, right], None, lambda m, a, b: torch.cat([a, b], dim=1), merge=True)
            shape = None if left_shape is None or right_shape is None else [left_shape[0] + right_shape[0], *left_shape[1:]]
            if shape is not None and left_shape[1:] != right_shape[1:]:
                shape = None
            continue
        _, shape = draw.layer(shape, source, step == broken_at)
    if rng.random() < 0.5:  # a classifier head; torch_net sizes the linear layer
        draw.add({"flatten": None}, [], nn.Flatten())
        draw.add({"linear": {"out": rng.randint(1, 10)}}, [], None, invalid)
    return built


def torch_net(built: Case) -> Net:
    """The PyTorch network; a final linear layer learns its input size from a dry run."""
    ops = list(built.ops)
    if built.layers[-1].get("linear") is not None:
        name = ops[-1][0]
        probe = Net(ops[:-1]).double().eval()
        with torch.no_grad():
            features = probe(torch.zeros(1, *built.input, dtype=torch.float64)).shape[-1]
        ops[-1] = (name, ops[-1][1], nn.Linear(features, built.layers[-1]["linear"]["out"]), call)
    return Net(ops).double().eval()


def statistics(net: nn.Module, rng: random.Random) -> None:
    """BatchNorm's running statistics away from 0 and 1."""
    with torch.no_grad():
        for name, buffer in net.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.tensor([rng.uniform(-0.5, 0.5) for _ in range(buffer.numel())], dtype=buffer.dtype))
            elif name.endswith("running_var"):
                buffer.copy_(torch.tensor([rng.uniform(0.5, 2.0) for _ in range(buffer.numel())], dtype=buffer.dtype))


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
    x = np.random.default_rng(seed).normal(size=(2, *built.input))
    try:
        model = torch_net(built)
        statistics(model, random.Random(seed))
        with torch.no_grad():
            model(torch.from_numpy(x[:1]))  # one sample, as cnncalc analyses (GroupNorm's rule)
            theirs_out = model(torch.from_numpy(x)).numpy()
        theirs = None if theirs_out.size else ValueError("empty output")
    except (RuntimeError, ValueError, IndexError) as exc:
        theirs = exc
    assert (ours is None) == (theirs is None), f"seed {seed} broken={broken}\ncnncalc: {ours!r}\nPyTorch: {theirs!r}\n{built.document}"
    if ours is not None:
        assert ours.location is not None
        return "both reject"
    for row in summary.layers:
        assert tuple(model.values[row.name].shape[1:]) == row.output_shape, (seed, row.name)
    state = model.state_dict()
    weights = {f"layers.{row.name}.{w}": shape for row in summary.layers for w, shape in (*row.weights, *row.buffers)}
    assert {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")} == weights, seed
    assert sum(p.numel() for p in model.parameters()) == summary.totals.params
    params = {
        row.name: {w: state[f"layers.{row.name}.{w}"].numpy() for w, _ in (*row.weights, *row.buffers)} for row in summary.layers
    }
    ours_out = execute(net, params, x)[0]
    scale = max(1.0, float(np.abs(theirs_out).max()))
    np.testing.assert_allclose(ours_out, theirs_out, rtol=1e-9, atol=1e-9 * scale, err_msg=f"seed {seed}")
    return "agree"

