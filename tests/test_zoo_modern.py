"""The zoo's newer networks against the same networks in PyTorch, built here as torchvision
builds them (tests/zoo_torch.py): ConvNeXt-Tiny (layer scale, permutes, stochastic depth),
ShuffleNetV2 with channel_shuffle, DeepLabV3-ResNet50 with its size-free ASPP head (like:),
and a Kim-style text CNN (embedding). For each: torchvision's published figures at its own
size; then, at a small input (the smallest each takes, for time), every weight's name and shape, the running statistics, every
named module's output shape, the MACs module by module (torch.utils.flop_counter), and the
float64 outputs with the PyTorch model's own (random) weights; and the shapes and MACs at a
second input size, where the architecture allows one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import cnncalc
from cnncalc.forward.runner import execute
from zoo_torch import ConvNeXtTiny, DeepLabV3ResNet50, LayerNorm2d, TextCNN

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str, shape: str | None = None):
    return cnncalc.load(EXAMPLES / f"{name}.yaml", input_shape=shape)


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """float64, eval mode, and every 1-D tensor (norm scales and shifts, biases, running
    statistics) and ConvNeXt's layer scale (1e-6 at first, which would hide its branch)
    drawn away from 0 and 1, so that a tensor applied wrongly shows in the output."""
    generator = torch.Generator().manual_seed(seed)
    model = model.double().eval()
    with torch.no_grad():
        for name, tensor in [*model.named_buffers(), *model.named_parameters()]:
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("running_var", "layer_scale") or (leaf == "weight" and tensor.ndim == 1):
                tensor.copy_(torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype) + 0.5)
            elif leaf in ("running_mean", "bias") and tensor.ndim == 1:
                tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype) * 0.3)
    return model


def torch_key(row_name: str, leaf: str) -> str:
    """The state_dict key of one of our tensors: LAYER.LEAF, except ConvNeXt's layer scale,
    a parameter of the block itself in torchvision (features.1.0.layer_scale)."""
    return row_name if leaf == "gamma" and row_name.endswith(".layer_scale") else f"{row_name}.{leaf}"


class Twin:
    """A cnncalc example and the same torch model, run on the same input."""

    def __init__(self, network, model: torch.nn.Module, x: torch.Tensor, aliases: dict | None = None):
        self.network, self.model, self.x = network, model, x
        self.summary = cnncalc.summary(network, len(x))
        self.rows = {row.name: row for row in self.summary.layers}
        # torch module -> our layer with its output (LayerNorm2d permutes back inside itself)
        self.aliases = aliases or {}
        self.shapes: dict[str, tuple] = {}
        watched = [(path, m) for path, m in model.named_modules() if path in self.rows or path in self.aliases]
        hooks = [m.register_forward_hook(lambda m, i, o, path=path: self.shapes.__setitem__(path, tuple(o.shape[1:])))
                 for path, m in watched]
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            output = model(x)
        for hook in hooks:
            hook.remove()
        self.output = output if isinstance(output, tuple) else (output,)
        root = type(model).__name__ + "."
        self.macs = {k.removeprefix(root): sum(v.values()) // 2 for k, v in counter.get_flop_counts().items() if k.startswith(root)}
        self.total_macs = counter.get_total_flops() // 2

    def weights(self):
        """Every parameter and running statistic by its state_dict key; the layer scale is
        torchvision's (C, 1, 1) where ours is (C,)."""
        state = dict(self.model.state_dict())
        ours = {torch_key(row.name, leaf): shape for row in self.rows.values() for leaf, shape in (*row.weights, *row.buffers)}
        theirs = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
        assert set(ours) == set(theirs)
        for key, shape in ours.items():
            expected = theirs[key]
            assert shape == (expected if not key.endswith(".layer_scale") else expected[:1]), key
        assert self.summary.totals.params == sum(p.numel() for p in self.model.parameters())
        stats = sum(b.numel() for k, b in self.model.named_buffers() if k.endswith(("running_mean", "running_var")))
        assert self.summary.totals.running_stats == stats

    def layer_shapes(self) -> int:
        """Every torch module named as one of our layers has that layer's output shape."""
        for path, shape in self.shapes.items():
            assert self.rows[self.aliases.get(path, path)].output_shape == shape, path
        return len(self.shapes)

    def costs(self):
        """MACs of every conv and linear module, and in total (flop_counter: 2 per MAC)."""
        ours = {name: row.macs for name, row in self.rows.items() if row.macs}
        assert ours == {path: macs for path, macs in self.macs.items() if path in ours}
        assert sum(ours.values()) == self.total_macs == self.summary.totals.macs

    def values(self):
        state = self.model.state_dict()
        params = {
            row.name: {leaf: state[torch_key(row.name, leaf)].numpy().reshape(shape) for leaf, shape in (*row.weights, *row.buffers)}
            for row in self.rows.values()
        }
        ours = execute(self.network, params, self.x.numpy())[0]
        ours = ours if isinstance(ours, tuple) else (ours,)
        assert len(ours) == len(self.output)
        for got, expected in zip(ours, self.output):
            expected = expected.numpy()
            assert got.shape == expected.shape
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(expected).max())))


def meta_twin(network, build, shape) -> Twin:
    """Shapes and MACs only: PyTorch on the meta device (its rules, no arithmetic)."""
    with torch.device("meta"):
        model = build().eval()
    return Twin(network, model, torch.zeros(1, *shape, device="meta"), aliases=layer_norm_2d(model))


def layer_norm_2d(model) -> dict:
    """torchvision's LayerNorm2d modules -> our permute back after the LayerNorm."""
    aliases = {}
    for path, module in model.named_modules():
        if isinstance(module, LayerNorm2d):
            head, _, _ = path.rpartition(".")
            aliases[path] = f"{head}.to_first"
    return aliases


# -- published figures (torchvision's weights enums: num_params, _ops) ---------------------------
PUBLISHED = {
    "convnext-tiny": (28_589_128, 4.456),  # ConvNeXt_Tiny_Weights.IMAGENET1K_V1, 224x224
    "shufflenetv2": (2_278_604, 0.145),  # ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1, 224x224
    "deeplabv3": (42_004_074, 178.722),  # DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1, 520x520
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_params_and_gmacs(name):
    params, gmacs = PUBLISHED[name]
    totals = cnncalc.summary(load(name)).totals
    assert totals.params == params
    assert round(totals.macs / 1e9, 3) == gmacs


# -- ConvNeXt-Tiny ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def convnext():
    torch.manual_seed(0)
    model = randomise(ConvNeXtTiny())
    # 32x32, its smallest input: stages of 8x8, 4x4, 2x2 and 1x1 (GELU's exact erf is the cost)
    return Twin(load("convnext-tiny", "3x32x32"), model, torch.randn(1, 3, 32, 32, dtype=torch.float64), layer_norm_2d(model))


def test_convnext_tiny_weights_shapes_and_macs(convnext):
    convnext.weights()
    assert convnext.layer_shapes() >= 18 * 6 + 3 * 2 + 5  # every block's conv, norm, linears, permutes; the downsamplings
    convnext.costs()
    rows = convnext.rows
    assert rows["features.7.2.layer_scale"].params == 768 and rows["features.7.2.layer_scale"].macs == 0
    assert rows["features.3.1.stochastic_depth"].output_shape == (192, 4, 4)


def test_convnext_tiny_float64_outputs_with_torchs_weights(convnext):
    convnext.values()


def test_convnext_tiny_at_another_size():
    """ConvNeXt takes any size from 32 on: 3x96x160 (shapes and MACs, PyTorch on meta)."""
    twin = meta_twin(load("convnext-tiny", "3x96x160"), ConvNeXtTiny, (3, 96, 160))
    assert twin.layer_shapes() > 100
    twin.costs()


# -- ShuffleNetV2 with channel_shuffle --------------------------------------------------------------
def test_shufflenetv2_float64_outputs_and_another_size():
    """The whole network in float64 at 32x32 (the shuffle's values included), and at
    3x96x128, which the example's old reshapes (written for 224x224) could not take."""
    from test_graph_language import Compared, ShuffleNetV2, randomise as randomise_bn

    compared = Compared(load("shufflenetv2", "3x32x32"), randomise_bn(ShuffleNetV2()),
                        {"input": np.random.default_rng(0).normal(size=(1, 3, 32, 32))})
    compared.everything()
    assert compared.rows[-1].output_shape == (1000,)
    with torch.device("meta"):
        model = ShuffleNetV2().eval()
    other = Compared(load("shufflenetv2", "3x96x128"), model, {"input": torch.zeros(1, 3, 96, 128, device="meta")})
    assert other.layer_shapes() >= 56 + 16 * 3
    other.costs()
    assert {r.name: r.output_shape for r in other.rows}["stage4.3.shuffle"] == (464, 3, 4)


# -- DeepLabV3-ResNet50, its ASPP head size-free -----------------------------------------------------
@pytest.fixture(scope="module")
def deeplab():
    torch.manual_seed(0)
    model = randomise(DeepLabV3ResNet50())
    return Twin(load("deeplabv3", "3x32x32"), model, torch.randn(1, 3, 32, 32, dtype=torch.float64))


def test_deeplabv3_weights_shapes_and_macs(deeplab):
    deeplab.weights()
    assert deeplab.layer_shapes() >= 16 * 6 + 4 * 2 + 20
    deeplab.costs()
    rows = deeplab.rows
    assert rows["classifier.0.convs.4.resize"].output_shape == (256, 4, 4)
    assert rows["out"].output_shape == rows["aux"].output_shape == (21, 32, 32)


def test_deeplabv3_float64_outputs_with_torchs_weights(deeplab):
    deeplab.values()


def test_deeplabv3_at_other_sizes():
    """The same file at 3x57x75 (odd sizes: every interpolation to a size not a multiple)."""
    twin = meta_twin(load("deeplabv3", "3x57x75"), DeepLabV3ResNet50, (3, 57, 75))
    assert twin.layer_shapes() > 100
    twin.costs()
    assert twin.rows["out"].output_shape == (21, 57, 75)


# -- a text CNN --------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [64, 40])
def test_text_cnn_agrees_with_pytorch(length):
    torch.manual_seed(0)
    model = randomise(TextCNN())
    tokens = torch.randint(0, 20000, (2, length)).double()
    twin = Twin(load("text-cnn", str(length)), model, tokens)
    twin.weights()
    assert twin.layer_shapes() == 6  # embedding, three convs, dropout, fc
    twin.costs()
    twin.values()
    assert twin.rows["convs.2"].output_shape == (100, length - 4)
    assert twin.summary.totals.params == 20000 * 300 + 3 * 100 + 300 * 100 * (3 + 4 + 5) + 301 * 2 == math.prod((1,)) * 6_360_902
