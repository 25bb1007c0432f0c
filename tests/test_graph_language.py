"""The graph language of CONTRACT.md section 8 (issue 15) against the real frameworks.

Each network is written twice: in cnncalc's YAML, and independently as a PyTorch module
(or, for the transfer-learning exercise, built by keras.applications itself). Nothing on
the PyTorch side is derived from cnncalc's figures. With the same weights, in float64,
the two must agree on every weight's name and shape, every layer's output shape, the
parameter counts (trainable and not), the MACs (torch.utils.flop_counter, per module and
in total: a module called twice counts twice) and the output values.

- a siamese network whose second tower applies the first tower's weights (share:);
- an FPN-like neck with three outputs (P3, P4, P5), each output also on its own;
- ShuffleNetV2's units written with `chunk` and `channel_shuffle` (the same as reshapes), and
  the whole ShuffleNetV2 1.0x against torchvision's published figures;
- `trainable: false` on block instances and `trainable: $param`;
- `$in_channels`: DenseNet-121 with transitions of $(in_channels // 2);
- `last:` (ResNetV2 puts the stride on a stack's last unit);
- a layer left out by `if:` with several inputs, with and without `else:`;
- a two-stream network with inputs of different ranks, through `cnncalc run`;
- Keras's MobileNetV2, frozen, with a new head: the course's exercise;
- the edges: what PyTorch or Keras cannot follow is refused, what would surprise is said.

"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

import cnncalc
from cnncalc.cli import main
from cnncalc.forward.runner import execute

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


# -- comparing one cnncalc network with one torch module ----------------------------------------
def load(text_or_name: str, **changes):
    """An example by name, or YAML text; `changes` replace top-level keys (e.g. outputs)."""
    text = (EXAMPLES / f"{text_or_name}.yaml").read_text() if "\n" not in text_or_name else text_or_name
    if changes:
        text = yaml.safe_dump({**yaml.safe_load(text), **changes}, sort_keys=False)
    return cnncalc.loads(text, format="yaml", path="case.yaml")


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """float64, inference, and BatchNorm's statistics and affine terms away from 0 and 1,
    so that a BatchNorm applied with the wrong tensors shows."""
    generator = torch.Generator().manual_seed(seed)
    model = model.double().eval()
    with torch.no_grad():
        for name, tensor in [*model.named_buffers(), *model.named_parameters()]:
            if name.endswith("running_mean") or (name.endswith("bias") and tensor.ndim == 1):
                tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype) * 0.3)
            elif name.endswith("running_var") or (name.endswith("weight") and tensor.ndim == 1):
                tensor.copy_(torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype) + 0.5)
    return model


def same_name(name: str) -> str:
    return name


class Compared:
    """A cnncalc network and the same network in PyTorch, run on the same inputs.

    `key` maps a cnncalc layer name to the torch module that holds its weights (the
    identity when the YAML uses the state_dict names). A row that shares another's
    weights (share:) is that other's module, called once more.
    """

    def __init__(self, network, model: nn.Module, inputs: dict, key=same_name):
        self.network, self.model, self.inputs, self.key = network, model, inputs, key
        self.summary = cnncalc.summary(network, len(next(iter(inputs.values()))))  # costs are per batch
        self.rows = self.summary.layers
        paths = {self.owner(row) for row in self.rows}
        self.shapes: dict[str, list] = {}
        hooks = [
            module.register_forward_hook(lambda m, i, o, path=path: self.shapes.setdefault(path, []).append(tuple(o.shape[1:])))
            for path, module in model.named_modules()
            if path in paths
        ]
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            output = model(*[torch.from_numpy(x) if isinstance(x, np.ndarray) else x for x in inputs.values()])
        for hook in hooks:
            hook.remove()
        self.output = output if isinstance(output, tuple) else (output,)
        root = type(model).__name__ + "."
        self.macs = {k.removeprefix(root): sum(v.values()) // 2 for k, v in counter.get_flop_counts().items() if k.startswith(root)}
        self.total_macs = counter.get_total_flops() // 2

    def owner(self, row) -> str:
        return self.key(row.shares or row.name)

    def weights(self):
        """Every learnable tensor and running statistic: the same names and shapes."""
        ours = {f"{self.key(row.name)}.{leaf}": shape for row in self.rows for leaf, shape in row.weights}
        theirs = {k: tuple(p.shape) for k, p in self.model.named_parameters()}
        assert ours == theirs
        ours = {f"{self.key(row.name)}.{leaf}": shape for row in self.rows for leaf, shape in row.buffers}
        theirs = {k: tuple(b.shape) for k, b in self.model.named_buffers() if k.endswith(("running_mean", "running_var"))}
        assert ours == theirs
        assert self.summary.totals.params == sum(p.numel() for p in self.model.parameters())
        assert self.summary.totals.running_stats == sum(np.prod(shape, dtype=int) for shape in theirs.values())

    def layer_shapes(self) -> int:
        """Every layer whose module PyTorch calls has the output shape PyTorch gives it,
        call by call (a shared module's calls in the order of the sharing layers)."""
        ours: dict[str, list] = {}
        for row in self.rows:
            if self.owner(row) in self.shapes:
                ours.setdefault(self.owner(row), []).append(row.output_shape)
        assert ours == self.shapes
        return sum(len(calls) for calls in ours.values())

    def costs(self):
        """MACs module by module (a shared module: the sum over its calls) and in total."""
        ours: dict[str, int] = {}
        for row in self.rows:
            if row.macs:
                ours[self.owner(row)] = ours.get(self.owner(row), 0) + row.macs
        assert ours == {path: macs for path, macs in self.macs.items() if path in ours}
        assert sum(ours.values()) == self.total_macs
        assert self.summary.totals.macs == self.total_macs

    def params(self) -> dict:
        """The torch model's tensors in cnncalc's form: {layer: {tensor: array}}."""
        state = {k: v.detach().numpy() for k, v in self.model.state_dict().items()}
        return {
            row.name: {leaf: state[f"{self.key(row.name)}.{leaf}"] for leaf, _ in (*row.weights, *row.buffers)}
            for row in self.rows
            if row.weights or row.buffers
        }

    def values(self):
        """cnncalc's forward pass with the torch model's weights equals the torch model's."""
        ours = execute(self.network, self.params(), dict(self.inputs))[0]
        ours = ours if isinstance(ours, tuple) else (ours,)
        assert len(ours) == len(self.output)
        for got, expected in zip(ours, self.output):
            expected = expected.numpy()
            assert got.shape == expected.shape
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(expected).max())))

    def everything(self):
        self.weights()
        self.layer_shapes()
        self.costs()
        self.values()


def normal(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


# -- a siamese network: one tower's weights applied to both inputs ------------------------------
class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, 16)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        return self.fc(F.relu(self.bn2(self.conv2(x))).mean((2, 3)))


class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.left_tower = Tower()  # the only tower: called on both inputs
        self.score = nn.Linear(32, 1)

    def forward(self, left, right):
        return self.score(torch.cat([self.left_tower(left), self.left_tower(right)], 1))


def test_siamese_towers_count_their_weights_once_and_their_macs_twice():
    compared = Compared(load("siamese"), randomise(Siamese()), {"left": normal(2, 3, 32, 32), "right": normal(2, 3, 32, 32, seed=1)})
    compared.everything()
    rows = {row.name: row for row in compared.rows}
    # The right tower's layers hold no weights of their own and cost what the left's cost.
    for name in ("conv1", "bn1", "conv2", "bn2", "fc"):
        assert rows[f"right_tower.{name}"].shares == f"left_tower.{name}"
        assert rows[f"right_tower.{name}"].params == 0
        assert rows[f"right_tower.{name}"].macs == rows[f"left_tower.{name}"].macs
    tower = sum(p.numel() for p in compared.model.left_tower.parameters())
    assert compared.summary.totals.params == tower + 33  # one tower and the score
    assert compared.macs["left_tower.conv1"] == 2 * rows["left_tower.conv1"].macs  # torch: one module, two calls
    assert compared.summary.inputs == (("left", (3, 32, 32)), ("right", (3, 32, 32)))


# -- an FPN-like neck with three outputs --------------------------------------------------------
class Stage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv, self.bn, self.relu = nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class FPN(nn.Module):
    """Five stride-2 stages; laterals of C3, C4, C5 to 64 channels; a top-down path
    (nearest upsampling, added); a 3x3 conv on each level. `only` returns one level."""

    def __init__(self, only=None):
        super().__init__()
        widths = [3, 16, 32, 64, 128, 256]
        for i in range(5):
            setattr(self, f"c{i + 1}", Stage(widths[i], widths[i + 1]))
        self.lateral3, self.lateral4, self.lateral5 = (nn.Conv2d(c, 64, 1) for c in (64, 128, 256))
        self.p3, self.p4, self.p5 = (nn.Conv2d(64, 64, 3, padding=1) for _ in range(3))
        self.only = only

    def forward(self, x):
        c3 = self.c3(self.c2(self.c1(x)))
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        top5 = self.lateral5(c5)
        if self.only == "p5":
            return self.p5(top5)
        merge4 = self.lateral4(c4) + F.interpolate(top5, scale_factor=2, mode="nearest")
        if self.only == "p4":
            return self.p4(merge4)
        merge3 = self.lateral3(c3) + F.interpolate(merge4, scale_factor=2, mode="nearest")
        if self.only == "p3":
            return self.p3(merge3)
        return self.p3(merge3), self.p4(merge4), self.p5(top5)


def test_fpn_three_outputs_agree_with_pytorch():
    x = {"input": normal(2, 3, 128, 128)}
    compared = Compared(load("fpn"), randomise(FPN()), x)
    compared.everything()
    assert compared.summary.outputs == ("p3", "p4", "p5")
    rows = {row.name: row for row in compared.rows}
    assert [rows[name].output_shape for name in ("p3", "p4", "p5")] == [tuple(o.shape[1:]) for o in compared.output]
    assert [rows[name].output_shape for name in ("p3", "p4", "p5")] == [(64, 16, 16), (64, 8, 8), (64, 4, 4)]


def test_run_reports_every_output(tmp_path):
    """`cnncalc run` on the three-output FPN: the table, and --save with every output."""
    result = CliRunner().invoke(main, ["run", str(EXAMPLES / "fpn.yaml"), "--save", str(tmp_path / "out.npz")])
    assert result.exit_code == 0, result.output
    assert "output 0:" not in result.stdout or "output 2:" in result.stdout
    with np.load(tmp_path / "out.npz") as saved:
        assert [saved[name].shape for name in ("p3", "p4", "p5")] == [(1, 64, 16, 16), (1, 64, 8, 8), (1, 64, 4, 4)]


@pytest.mark.parametrize("level", ["p3", "p4", "p5"])
def test_fpn_each_output_alone_costs_what_its_path_costs_in_pytorch(level):
    """With outputs: [pN], the Keras totals and the MACs of the layers on its path are what
    the torch model computing only pN holds and does; the other layers are reported dead."""
    model = randomise(FPN(only=level))
    network = load("fpn", outputs=[level])
    summary = cnncalc.summary(network, 1)
    counter = FlopCounterMode(display=False)
    called: set[str] = set()
    hooks = [module.register_forward_hook(lambda m, i, o, p=path: called.add(p)) for path, module in model.named_modules() if path]
    with torch.no_grad(), counter:
        output = model(torch.zeros(1, 3, 128, 128, dtype=torch.float64))
    for hook in hooks:
        hook.remove()
    used = [p for name, m in model.named_modules() if name in called for p in m.parameters(recurse=False)]
    stats = [b for name, m in model.named_modules() if name in called for b in m.buffers(recurse=False) if b.dtype.is_floating_point]
    assert summary.totals.keras_trainable_params == sum(p.numel() for p in used)
    assert summary.totals.keras_non_trainable_params == sum(b.numel() for b in stats)
    assert sum(row.macs for row in summary.layers if row.on_output_path) == counter.get_total_flops() // 2
    assert summary.outputs == (level,)
    assert {row.name: row.output_shape for row in summary.layers}[level] == tuple(output.shape[1:])
    dead = [row.name for row in summary.layers if not row.on_output_path]
    if level != "p3":
        assert "p3" in dead and any("on no path to an output" in w for w in summary.warnings)
    got = execute(network, Compared(network, model, {"input": normal(1, 3, 128, 128)}).params(), normal(1, 3, 128, 128))[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(normal(1, 3, 128, 128))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


# -- ShuffleNetV2: chunk, and the channel shuffle by reshapes ------------------------------------
def channel_shuffle(x, groups):
    """torchvision.models.shufflenetv2.channel_shuffle."""
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width)
    return torch.transpose(x, 1, 2).contiguous().view(batch, channels, height, width)


def depthwise(channels, stride):
    return nn.Conv2d(channels, channels, 3, stride, 1, bias=False, groups=channels)


class InvertedResidual(nn.Module):
    """torchvision.models.shufflenetv2.InvertedResidual, retyped."""

    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        half = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                depthwise(inp, stride), nn.BatchNorm2d(inp), nn.Conv2d(inp, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU()
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
            depthwise(half, stride), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
        )

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """torchvision.models.shufflenetv2.ShuffleNetV2 (1.0x: stages 4, 8, 4), retyped."""

    def __init__(self, repeats=(4, 8, 4), widths=(24, 116, 232, 464, 1024)):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = widths[0]
        for i, (count, width) in enumerate(zip(repeats, widths[1:4]), start=2):
            units = [InvertedResidual(channels, width, 2)] + [InvertedResidual(width, width, 1) for _ in range(count - 1)]
            setattr(self, f"stage{i}", nn.Sequential(*units))
            channels = width
        self.conv5 = nn.Sequential(nn.Conv2d(channels, widths[-1], 1, bias=False), nn.BatchNorm2d(widths[-1]), nn.ReLU())
        self.fc = nn.Linear(widths[-1], 1000)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean([2, 3]))


class Stage2(nn.Module):
    """A small ShuffleNetV2 stage: a downsampling unit and two basic units."""

    def __init__(self):
        super().__init__()
        self.stage2 = nn.Sequential(InvertedResidual(24, 48, 2), InvertedResidual(48, 48, 1), InvertedResidual(48, 48, 1))

    def forward(self, x):
        return self.stage2(x)


def test_shufflenetv2_units_with_chunk_and_the_shuffle_agree_with_pytorch():
    """The example's two units, on a small input: values in float64, weight by weight."""
    document = yaml.safe_load((EXAMPLES / "shufflenetv2.yaml").read_text())
    document.update(input=[24, 16, 16], layers=[
        {"identity": None, "name": "stem"},  # see test_in_channels_of_an_instance_reading_the_input
        {"down": {"out": 48}, "name": "stage2.0"},
        {"basic": None, "name": "stage2.1"},
        {"basic": None, "name": "stage2.2"},
    ])
    compared = Compared(load(yaml.safe_dump(document, sort_keys=False)), randomise(Stage2()), {"input": normal(2, 24, 16, 16)})
    compared.everything()
    rows = {row.name: row for row in compared.rows}
    assert rows["stage2.1.split"].output_shape == ((24, 8, 8), (24, 8, 8))
    assert rows["stage2.1.branch2.0"].inputs == ("stage2.1.split.1",)
    assert rows["stage2.1.cat"].inputs == ("stage2.1.split.0", "stage2.1.branch2.7")
    assert rows["stage2.2.shuffle"].output_shape == (48, 8, 8)


def test_the_shuffle_by_reshapes_is_torchs_channel_shuffle():
    """Channel 2i of the result is the first half's channel i, channel 2i+1 the second's:
    by reshapes (how the example was written before channel_shuffle), and by channel_shuffle."""
    text = """
input: [6, 2, 3]
layers:
  - chunk: 2
    name: halves
  - reshape: [3, 1, 2, 3]
    from: halves.0
  - reshape: [3, 1, 2, 3]
    from: halves.1
  - concat: {axis: 2}
    from: [reshape_1, reshape_2]
  - reshape: [6, 2, 3]
"""
    x = np.arange(2 * 6 * 2 * 3, dtype=np.float64).reshape(2, 6, 2, 3)
    got = execute(load(text), {}, x)[0]
    np.testing.assert_array_equal(got, channel_shuffle(torch.from_numpy(x), 2).numpy())
    np.testing.assert_array_equal(got[:, [0, 2, 4]], x[:, :3])
    np.testing.assert_array_equal(got[:, [1, 3, 5]], x[:, 3:])
    shuffled = execute(load("input: [6, 2, 3]\nlayers:\n  - channel_shuffle: 2\n"), {}, x)[0]
    np.testing.assert_array_equal(shuffled, got)


def test_shufflenetv2_matches_torchvision_figures_and_torch_layer_by_layer():
    """torchvision's ShuffleNet_V2_X1_0_Weights: 2,278,604 params, 0.145 GFLOPS (MACs)."""
    with torch.device("meta"):
        model = ShuffleNetV2().eval()
    compared = Compared(load("shufflenetv2"), model, {"input": torch.zeros(1, 3, 224, 224, device="meta")})
    compared.weights()
    assert compared.layer_shapes() >= 56 + 16 * 3  # every conv and BatchNorm, twice in each down unit
    compared.costs()
    assert compared.summary.totals.params == 2_278_604
    assert round(compared.summary.totals.macs / 1e9, 3) == 0.145


# -- trainable: false on block instances, trainable: $param ---------------------------------------
TRAINABLE = """
input: [3, 16, 16]
blocks:
  unit:
    params: {out: null, tune: true}
    layers:
      - conv2d: {out: $out, kernel: 3, padding: 1, bias: false}
        name: conv
      - batchnorm:
        name: bn
        trainable: $tune
      - relu:
  stage:
    params: {out: null, tune: true}
    layers:
      - unit: {out: $out}
        name: a
      - unit: {out: $out}
        name: b
        trainable: $tune
layers:
  - stage: {out: 8}
    name: s1
    trainable: false
  - stage: {out: 16, tune: false}
    name: s2
  - unit: {out: 16, tune: false}
    name: u
  - global_avgpool:
  - linear: 10
    name: fc
"""


class Unit(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Frozen(nn.Module):
    """What the YAML above says, frozen the PyTorch way (requires_grad_(False))."""

    def __init__(self):
        super().__init__()
        self.s1 = nn.Sequential()
        self.s1.add_module("a", Unit(3, 8))
        self.s1.add_module("b", Unit(8, 8))
        self.s2 = nn.Sequential()
        self.s2.add_module("a", Unit(8, 16))
        self.s2.add_module("b", Unit(16, 16))
        self.u = Unit(16, 16)
        self.fc = nn.Linear(16, 10)
        self.s1.requires_grad_(False)  # trainable: false on the instance
        self.s2.b.requires_grad_(False)  # trainable: $tune on an instance inside the block, tune false
        self.u.bn.requires_grad_(False)  # trainable: $tune on a layer, tune false

    def forward(self, x):
        return self.fc(self.u(self.s2(self.s1(x))).mean((2, 3)))


def test_trainable_on_block_instances_counts_as_requires_grad():
    compared = Compared(load(TRAINABLE), randomise(Frozen()), {"input": normal(2, 3, 16, 16)})
    compared.everything()
    model, totals = compared.model, compared.summary.totals
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert (totals.trainable_params, totals.params - totals.trainable_params) == (trainable, frozen)
    assert totals.non_trainable_params == frozen + totals.running_stats  # Keras: moving statistics too
    modules = dict(model.named_modules())
    for row in compared.rows:
        if row.weights:
            own = list(modules[row.name].parameters(recurse=False))
            assert row.trainable_params == sum(p.numel() for p in own if p.requires_grad), row.name


def test_trainable_on_a_layer_that_shares_weights_is_not_silently_ignored():
    """One tensor is trainable or not, in PyTorch and Keras alike: `trainable: false` on a
    layer applying another's weights cannot hold while the owner trains."""
    text = """
input: [4]
layers:
  - linear: 4
    name: a
  - linear: 4
    share: a
    trainable: false
"""
    with pytest.raises(cnncalc.CnnError) as raised:
        cnncalc.summary(load(text))
    assert "shares the weights of 'a', which are trainable, but is itself frozen" in raised.value.message


def test_trainable_false_on_an_instance_wins_over_trainable_true_inside():
    """As base_model.trainable = False in Keras: everything inside is frozen, whatever
    the layers inside say."""
    text = TRAINABLE.replace("trainable: $tune\n  stage", "trainable: true\n  stage")
    rows = {row.name: row for row in cnncalc.summary(load(text)).layers}
    assert rows["s1.a.bn"].trainable_params == 0 and rows["s1.a.bn"].params == 16
    assert rows["s2.a.bn"].trainable_params == 32


# -- $in_channels: DenseNet's transitions -------------------------------------------------------
class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU()
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth), nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, features):
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(features))))))


class DenseBlock(nn.ModuleDict):
    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class DenseNet(nn.Module):
    """torchvision.models.densenet.DenseNet, retyped; its transitions halve the channels."""

    def __init__(self, growth=32, blocks=(6, 12, 24, 16), init=64, bn_size=4, classes=1000):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, init, 7, 2, 3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(init))
        self.features.add_module("relu0", nn.ReLU())
        self.features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        channels = init
        for i, count in enumerate(blocks, start=1):
            block = DenseBlock({f"denselayer{j + 1}": DenseLayer(channels + j * growth, growth, bn_size) for j in range(count)})
            self.features.add_module(f"denseblock{i}", block)
            channels += count * growth
            if i != len(blocks):
                transition = nn.Sequential()
                transition.add_module("norm", nn.BatchNorm2d(channels))
                transition.add_module("relu", nn.ReLU())
                transition.add_module("conv", nn.Conv2d(channels, channels // 2, 1, bias=False))
                transition.add_module("pool", nn.AvgPool2d(2, 2))
                self.features.add_module(f"transition{i}", transition)
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(F.relu(self.features(x)), 1).flatten(1))


def densenet_key(name: str) -> str:
    """cnncalc's repeat counts from 0; torchvision's dense layers from 1."""
    return re.sub(r"(denseblock\d+)\.(\d+)\.", lambda m: f"{m[1]}.denselayer{int(m[2]) + 1}.", name)


def test_densenet121_transitions_by_in_channels_match_torchvision():
    """torchvision's DenseNet121_Weights: 7,978,856 params, 2.834 GFLOPS (MACs)."""
    with torch.device("meta"):
        model = DenseNet().eval()
    network = load("densenet121")
    compared = Compared(network, model, {"input": torch.zeros(1, 3, 224, 224, device="meta")}, key=densenet_key)
    compared.weights()
    assert compared.layer_shapes() >= 2 * 58 * 3 + 3 * 3
    compared.costs()
    assert compared.summary.totals.params == 7_978_856
    assert round(compared.summary.totals.macs / 1e9, 3) == 2.834
    rows = {row.name: row for row in compared.rows}
    assert [rows[f"features.transition{i}.conv"].output_shape[0] for i in (1, 2, 3)] == [128, 256, 512]


def test_a_small_densenet_runs_as_pytorch_does():
    """The example's blocks with other parameters: growth 8, two blocks, in float64."""
    document = yaml.safe_load((EXAMPLES / "densenet121.yaml").read_text())
    document["input"] = [3, 32, 32]
    document["layers"] = [
        {"conv2d": {"out": 16, "kernel": 7, "stride": 2, "padding": 3, "bias": False}, "name": "features.conv0"},
        {"batchnorm": None, "name": "features.norm0"},
        {"relu": None, "name": "features.relu0"},
        {"maxpool2d": {"kernel": 3, "stride": 2, "padding": 1}, "name": "features.pool0"},
        {"dense_layer": {"growth": 8, "bn_size": 2}, "repeat": 3, "name": "features.denseblock1"},
        {"transition": None, "name": "features.transition1"},
        {"dense_layer": {"growth": 8, "bn_size": 2}, "repeat": 2, "name": "features.denseblock2"},
        {"batchnorm": None, "name": "features.norm5"},
        {"relu": None},
        {"global_avgpool": None},
        {"linear": 10, "name": "classifier"},
    ]
    model = randomise(DenseNet(growth=8, blocks=(3, 2), init=16, bn_size=2, classes=10))
    compared = Compared(load(yaml.safe_dump(document, sort_keys=False)), model, {"input": normal(2, 3, 32, 32)}, key=densenet_key)
    compared.everything()
    assert {row.name: row for row in compared.rows}["features.transition1.conv"].output_shape == (20, 8, 8)  # (16 + 3 x 8) // 2


def test_in_channels_of_an_instance_reading_the_input():
    """$in_channels of a block instance that reads the network's input directly."""
    text = """
input: [4, 8, 8]
blocks:
  half:
    layers:
      - conv2d: {out: $(in_channels // 2), kernel: 1}
layers:
  - half:
"""
    assert cnncalc.summary(load(text)).layers[0].output_shape == (2, 8, 8)


# -- last: ResNetV2 puts the stride on a stack's last unit -----------------------------------------
RESNET_V2_STACK = """
input: [16, 16, 16]
blocks:
  unit:                        # keras.applications.resnet_v2's block2, channels first
    params: {filters: null, stride: 1, conv_shortcut: false}
    layers:
      - batchnorm:
        name: preact_bn
      - relu:
        name: preact_relu
      - maxpool2d: {kernel: 1, stride: $stride}
        from: input
        name: pool_shortcut
        if: $(stride > 1 and not conv_shortcut)
      - conv2d: {out: $(4 * filters), kernel: 1, stride: $stride}
        from: preact_relu
        name: conv_shortcut
        if: $conv_shortcut
        else: pool_shortcut
      - conv2d: {out: $filters, kernel: 1, bias: false}
        from: preact_relu
        name: conv1
      - batchnorm:
        name: bn1
      - relu:
      - conv2d: {out: $filters, kernel: 3, stride: $stride, padding: 1, bias: false}
        name: conv2
      - batchnorm:
        name: bn2
      - relu:
      - conv2d: {out: $(4 * filters), kernel: 1}
        name: conv3
      - add: [conv_shortcut, conv3]
        name: out
layers:
  - unit: {filters: 8}
    repeat: 3
    first: {conv_shortcut: true}
    last: {stride: 2}
    name: conv2
"""


class PreactUnit(nn.Module):
    def __init__(self, cin, filters, stride=1, conv_shortcut=False):
        super().__init__()
        self.stride = stride
        self.preact_bn = nn.BatchNorm2d(cin)
        self.conv_shortcut = nn.Conv2d(cin, 4 * filters, 1, stride) if conv_shortcut else None
        self.conv1, self.bn1 = nn.Conv2d(cin, filters, 1, bias=False), nn.BatchNorm2d(filters)
        self.conv2, self.bn2 = nn.Conv2d(filters, filters, 3, stride, 1, bias=False), nn.BatchNorm2d(filters)
        self.conv3 = nn.Conv2d(filters, 4 * filters, 1)

    def forward(self, x):
        preact = F.relu(self.preact_bn(x))
        if self.conv_shortcut is not None:
            shortcut = self.conv_shortcut(preact)
        else:
            shortcut = F.max_pool2d(x, 1, self.stride) if self.stride > 1 else x
        x = F.relu(self.bn1(self.conv1(preact)))
        return shortcut + self.conv3(F.relu(self.bn2(self.conv2(x))))


class PreactStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv2 = nn.Sequential(PreactUnit(16, 8, conv_shortcut=True), PreactUnit(32, 8), PreactUnit(32, 8, stride=2))

    def forward(self, x):
        return self.conv2(x)


def test_last_puts_the_stride_on_the_last_unit_as_resnet_v2_does():
    compared = Compared(load(RESNET_V2_STACK), randomise(PreactStack()), {"input": normal(2, 16, 16, 16)})
    compared.everything()
    rows = {row.name: row for row in compared.rows}
    assert [rows[f"conv2.{i}.out"].output_shape for i in range(3)] == [(32, 16, 16), (32, 16, 16), (32, 8, 8)]
    assert rows["conv2.2.out"].inputs == ("conv2.2.pool_shortcut", "conv2.2.conv3")
    assert rows["conv2.1.out"].inputs == ("conv2.0.out", "conv2.1.conv3")  # no shortcut layer: the unit's input
    assert rows["conv2.0.out"].inputs == ("conv2.0.conv_shortcut", "conv2.0.conv3")


def test_first_and_last_on_a_repeat_of_one_both_apply():
    text = RESNET_V2_STACK.replace("repeat: 3", "repeat: 1")
    summary = cnncalc.summary(load(text))
    rows = {row.name: row for row in summary.layers}
    assert rows["conv2.0.conv_shortcut"].output_shape == (32, 8, 8)  # first: the projection
    assert rows["conv2.0.conv2"].output_shape == (8, 8, 8)  # last: the stride
    assert "conv2.0.pool_shortcut" not in rows and not any("no path" in w for w in summary.warnings)


# -- a layer left out by if: with several inputs ---------------------------------------------------
RESIDUAL = """
input: [8, 8, 8]
blocks:
  residual:
    params: {shortcut: true}
    layers:
      - conv2d: {out: 8, kernel: 3, padding: 1}
        name: conv
      - relu:
        name: relu
      - add: [input, relu]     # Keras's order: Add()([shortcut, x])
        name: add
        if: $shortcut
ELSE
layers:
  - residual:
    name: r1
  - residual: {shortcut: false}
    name: r2
  - conv2d: {out: 4, kernel: 1}
    name: head
"""


class Residuals(nn.Module):
    def __init__(self, second="relu"):
        super().__init__()
        self.r1, self.r2, self.head = nn.Module(), nn.Module(), nn.Conv2d(8, 4, 1)
        self.r1.conv, self.r2.conv = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.second = second

    def forward(self, x):
        x = x + F.relu(self.r1.conv(x))
        if self.second == "relu":
            x = F.relu(self.r2.conv(x))
        return self.head(x)


def test_a_left_out_layer_with_several_inputs_needs_else():
    with pytest.raises(cnncalc.CnnError) as raised:
        load(RESIDUAL.replace("ELSE\n", ""))
    message = str(raised.value)
    assert "'r2.add' is left out by if:, but it has 2 inputs" in message and "else:" in message
    assert raised.value.location.line == 13  # the if: of the add, inside the block


def test_else_says_what_the_left_out_layer_stands_for():
    compared = Compared(load(RESIDUAL.replace("ELSE", "        else: relu")), randomise(Residuals()), {"input": normal(2, 8, 8, 8)})
    compared.everything()
    assert [row.name for row in compared.rows if row.name.startswith("r2.")] == ["r2.conv", "r2.relu"]
    assert compared.rows[-1].inputs == ("r2.relu",)
    assert not compared.summary.warnings


def test_else_naming_the_block_input_makes_the_block_dead_and_says_so():
    """else: input is what the old rule silently did (the first input): written, it holds,
    and the block's layers, now on no path to the output, are named in a warning."""
    model = randomise(Residuals(second="input"))
    del model.r2  # PyTorch's network that does what the file says has no r2 at all
    summary = cnncalc.summary(load(RESIDUAL.replace("ELSE", "        else: input")))
    rows = {row.name: row for row in summary.layers}
    assert rows["head"].inputs == ("r1.add",)
    assert not rows["r2.conv"].on_output_path and not rows["r2.relu"].on_output_path
    assert any("'r2.conv'" in w and "on no path to an output" in w for w in summary.warnings)
    assert summary.totals.keras_trainable_params == sum(p.numel() for p in model.parameters())
    network = load(RESIDUAL.replace("ELSE", "        else: input"))
    x = normal(2, 8, 8, 8)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    params = {name: {"weight": state[f"{name}.weight"], "bias": state[f"{name}.bias"]} for name in ("r1.conv", "head")}
    params["r2.conv"] = {"weight": np.zeros((8, 8, 3, 3)), "bias": np.zeros(8)}  # any: unused
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(execute(network, params, x)[0], expected, rtol=1e-9, atol=1e-9)


# -- two streams: an image and a vector ------------------------------------------------------------
TWO_STREAM = """
inputs: {image: [3, 32, 32], meta: [10]}
layers:
  - conv2d: {out: 16, kernel: 3, stride: 2, padding: 1}
    from: image
    name: conv
  - relu:
  - global_avgpool:
    name: pool
  - linear: 8
    from: meta
    name: meta_fc
  - relu:
  - concat: [pool, relu_2]
  - linear: 5
    name: head
"""


class TwoStream(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.meta_fc, self.head = nn.Conv2d(3, 16, 3, 2, 1), nn.Linear(10, 8), nn.Linear(24, 5)

    def forward(self, image, meta):
        return self.head(torch.cat([F.relu(self.conv(image)).mean((2, 3)), F.relu(self.meta_fc(meta))], 1))


def test_two_streams_of_different_sizes_through_summary_and_run(tmp_path):
    inputs = {"image": normal(3, 3, 32, 32), "meta": normal(3, 10, seed=1)}
    compared = Compared(load(TWO_STREAM), randomise(TwoStream()), inputs)
    compared.everything()
    assert compared.summary.inputs == (("image", (3, 32, 32)), ("meta", (10,)))
    assert compared.summary.layers[-2].output_shape == (24,)
    # The command: weights and inputs from files, every output saved.
    model = compared.model
    np.savez(tmp_path / "w.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    np.savez(tmp_path / "x.npz", **inputs)
    path = tmp_path / "two.yaml"
    path.write_text(TWO_STREAM)
    result = CliRunner().invoke(main, ["run", str(path), "--weights", str(tmp_path / "w.npz"), "--data", str(tmp_path / "x.npz"),
                                       "--save", str(tmp_path / "out.npz"), "--dtype", "float64", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"]
    with np.load(tmp_path / "out.npz") as saved:
        np.testing.assert_allclose(saved["head"], compared.output[0].numpy(), rtol=1e-9, atol=1e-9)
        assert saved["meta_fc"].shape == (3, 8)


# -- the course's transfer-learning exercise, against Keras itself ----------------------------------
def test_mobilenetv2_transfer_exercise_matches_keras():
    """keras.applications.MobileNetV2(include_top=False), base_model.trainable = False, and
    the course's head: Keras says 165,258 trainable and 2,257,984 non-trainable."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3))
    base.trainable = False
    head = [
        keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d"),
        keras.layers.Dense(128, activation="relu", name="dense"),
        keras.layers.Dropout(0.3, name="dropout"),
        keras.layers.Dense(10, activation="softmax", name="dense_1"),
    ]
    model = keras.Sequential([keras.Input((224, 224, 3)), base, *head])
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert (trainable, frozen) == (165_258, 2_257_984)
    summary = cnncalc.summary(cnncalc.load(EXAMPLES / "mobilenetv2-transfer.yaml"))
    totals = summary.totals
    assert (totals.keras_trainable_params, totals.keras_non_trainable_params) == (trainable, frozen)
    assert (totals.trainable_params, totals.non_trainable_params) == (trainable, frozen)
    assert totals.params + totals.running_stats == model.count_params()
    keras_layers = {layer.name: layer for layer in [*base.layers, *head]}
    compared = 0
    for row in summary.layers:
        layer = keras_layers[row.name.removeprefix("base.").replace(".", "_")]
        assert tuple(layer.output.shape[1:]) == row.output_shape, row.name
        assert layer.count_params() == row.params + row.running_stats, row.name
        assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == row.trainable_params, row.name
        compared += 1
    assert compared == len(base.layers) - 1 + len(head)  # all but the InputLayer


# -- the language's edges: refused where PyTorch or Keras cannot follow, said where it would surprise
def test_keras_totals_hold_a_shared_layer_but_not_what_its_owner_read():
    """y = owner(b) with owner also applied to p(a): a Keras Model from [a, b] to y holds
    owner (148 weights) and not p, which is on no path to the output."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    a, b = keras.Input((8, 8, 4), name="a"), keras.Input((8, 8, 4), name="b")
    owner = keras.layers.Conv2D(4, 3, padding="same", name="owner")
    owner(keras.layers.Conv2D(4, 1, name="p")(a))
    model = keras.Model([a, b], owner(b))
    assert model.count_params() == 148 and [layer.name for layer in model.layers if layer.weights] == ["owner"]
    summary = cnncalc.summary(load("""
inputs: {a: [8, 8, 4], b: [8, 8, 4]}
layout: channels_last
outputs: [y]
layers:
  - Conv2D: {filters: 4, kernel_size: 1}
    from: a
    name: p
  - Conv2D: {filters: 4, kernel_size: 3, padding: same}
    name: owner
  - Conv2D: {filters: 4, kernel_size: 3, padding: same}
    from: b
    share: owner
    name: y
"""))
    assert summary.totals.params == 168  # PyTorch: every module the file writes
    keras_total = summary.totals.keras_trainable_params + summary.totals.keras_non_trainable_params
    assert keras_total == model.count_params()


def test_share_needs_the_same_input_channels():
    """PyTorch cannot apply a conv's weights to another number of channels ("expected
    input to have 3 channels, but got 4"): a located error, as for every layer PyTorch refuses."""
    text = """
inputs: {a: [3, 8, 8], b: [4, 8, 8]}
outputs: [ca, cb]
layers:
  - conv2d: {out: 8, kernel: 3}
    from: a
    name: ca
  - conv2d: {out: 8, kernel: 3}
    from: b
    share: ca
    name: cb
"""
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(RuntimeError, match="channels"):
        conv(torch.zeros(1, 4, 8, 8))
    with pytest.raises(cnncalc.CnnError) as raised:
        cnncalc.summary(load(text))
    assert 8 <= raised.value.location.line <= 10 and "'ca'" in str(raised.value)  # the sharing layer, naming the owner


def test_outputs_may_name_a_block_instance():
    """An instance's name means its last layer everywhere else (from:, add, concat)."""
    text = (EXAMPLES / "siamese.yaml").read_text()
    text = text.replace("layers:\n  - tower:", "outputs: [left_tower, right_tower]\nlayers:\n  - tower:")
    summary = cnncalc.summary(load(text))
    assert summary.outputs == ("left_tower.fc", "right_tower.fc")


def test_a_block_instance_may_not_take_an_input_s_name():
    """As a layer may not: `add: [a, b]` would read the instance where the input is meant."""
    text = """
inputs: {a: [4], b: [4]}
blocks:
  blk:
    layers:
      - linear: 4
layers:
  - blk:
    from: b
    name: a
  - add: [a, b]
"""
    with pytest.raises(cnncalc.CnnError) as raised:
        cnncalc.summary(load(text))
    assert "'a' is the name of a network input" in raised.value.message
