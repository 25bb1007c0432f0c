"""The example zoo: published figures, and each network against the same network in
PyTorch (layer by layer) or Keras (keras.applications), built inside the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import cnncalc
from zoo_torch import ZOO

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def summary_of(name: str):
    return cnncalc.summary(cnncalc.load(EXAMPLES / f"{name}.yaml"))


# Published figures. torchvision: the `num_params` and `_ops` (GFLOPS, i.e. multiply-
# accumulates of conv and linear layers per image) of each weights enum in
# torchvision/models/*.py (also REFERENCE.md); Keras: keras.applications' model summaries.
PUBLISHED = {
    "resnet18": (11_689_512, 1.814),
    "resnet50": (25_557_032, 4.089),
    "alexnet": (61_100_840, 0.714),
    "vgg16": (138_357_544, 15.470),
    "googlenet": (6_624_904, 1.498),
    "mobilenetv2": (3_504_872, 0.301),
    "efficientnet-b0": (5_288_548, 0.386),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_params_and_gmacs(name):
    params, gmacs = PUBLISHED[name]
    summary = summary_of(name)
    assert summary.totals.params == params
    assert round(summary.totals.macs / 1e9, 3) == gmacs


def test_mobilenetv2_in_keras_terms():
    """Keras's MobileNetV2 summary: 3,538,984 total = 3,504,872 trainable + 34,112 non-trainable."""
    totals = summary_of("mobilenetv2").totals
    assert (totals.trainable_params, totals.non_trainable_params) == (3_504_872, 34_112)
    assert totals.trainable_params + totals.non_trainable_params == 3_538_984


def test_keras_resnet50_published_split():
    """Keras ResNet50: 25,636,712 total, 25,583,592 trainable, 53,120 non-trainable."""
    totals = summary_of("keras-resnet50").totals
    assert (totals.trainable_params, totals.non_trainable_params) == (25_583_592, 53_120)


def test_unet_shapes_of_the_paper():
    """Ronneberger et al. 2015, Fig. 1: 572x572 in, 388x388 out, skips cropped 64->56 etc."""
    summary = summary_of("unet")
    rows = {row.name: row for row in summary.layers}
    assert summary.layers[-1].output_shape == (2, 388, 388)
    assert rows["enc1.conv2"].output_shape == (64, 568, 568)
    assert rows["bottom.conv2"].output_shape == (1024, 28, 28)
    assert rows["dec4.crop"].output_shape == (512, 56, 56)
    assert rows["dec1.crop"].output_shape == (64, 392, 392)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_agrees_with_pytorch_layer_by_layer(name):
    """Names and shapes only, so PyTorch works on the meta device: its own shape rules
    without the arithmetic (U-Net's 150 GMACs took 20 s). Values are compared with the same
    weights by test_run.py (whole networks) and test_forward.py (every layer type)."""
    build, shape = ZOO[name]
    with torch.device("meta"):
        model = build().eval()
    summary = summary_of(name)
    rows = {row.name: row for row in summary.layers}
    # Every weight tensor: the same state_dict key and shape.
    ours = {f"{row.name}.{weight}": shape for row in summary.layers for weight, shape in row.weights}
    theirs = {key: tuple(p.shape) for key, p in model.named_parameters()}
    assert ours == theirs
    buffers = sum(b.numel() for key, b in model.named_buffers() if key.endswith(("running_mean", "running_var")))
    assert summary.totals.running_stats == buffers
    # Every module that cnncalc also names: the same output shape.
    seen: dict[str, tuple] = {}
    hooks = [
        module.register_forward_hook(lambda m, i, o, key=key: seen.__setitem__(key, tuple(o.shape[1:])))
        for key, module in model.named_modules()
        if key in rows
    ]
    with torch.no_grad():
        output = model(torch.zeros(1, *shape, device="meta"))
    for hook in hooks:
        hook.remove()
    assert seen, "no layer names in common"
    for key, got in seen.items():
        assert rows[key].output_shape == got, key
    assert summary.layers[-1].output_shape == tuple(output.shape[1:])


def test_keras_resnet50_agrees_with_keras_applications_layer_by_layer():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    model = keras.applications.ResNet50(weights=None)
    summary = summary_of("keras-resnet50")
    keras_layers = {layer.name: layer for layer in model.layers}
    compared = 0
    for row in summary.layers:
        layer = keras_layers.get(row.name.replace(".", "_"))
        if layer is None:
            continue
        assert tuple(layer.output.shape[1:]) == row.output_shape, row.name
        assert layer.count_params() == row.params + row.running_stats, row.name
        compared += 1
    assert compared == len(model.layers) - 1  # all but the InputLayer


def test_a_left_out_layer_passes_its_input_to_the_next():
    """ResNet-18's layer1.0 has no projection: its residual add takes bn2 and the block input."""
    rows = {row.name: row for row in summary_of("resnet18").layers}
    assert rows["layer1.0.add_1"].inputs == ("layer1.0.bn2", "maxpool")
    assert rows["layer2.0.add_1"].inputs == ("layer2.0.bn2", "layer2.0.downsample.1")
    assert rows["layer2.1.add_1"].inputs == ("layer2.1.bn2", "layer2.0.relu_2")
