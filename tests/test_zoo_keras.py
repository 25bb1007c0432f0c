"""The Keras-form examples against keras.applications built in the test (weights=None):
MobileNetV3-Large and EfficientNetB0, written with Keras's own layers (Rescaling,
Normalization, Activation, BatchNormalization with Keras's defaults).

Each model is built once, on a 64x64 input (every stride-2 layer still meets an even size,
so Keras's padding is the file's; parameters do not depend on the size), in float64
(keras.config.set_dtype_policy, restored after). Compared: the total, trainable and
non-trainable parameters; every layer Keras names (the file uses Keras's names, '.' for
'_'): its output shape and its parameter count; and the outputs of a few layers and of the
network, in float64 (to float32's tolerance: see TOLERANCE), with the Keras model's weights (its BatchNorm and Normalization
statistics drawn away from 0 and 1 first) run through cnncalc's NumPy forward pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402

import cnncalc  # noqa: E402
from cnncalc.forward.runner import execute  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SIZE = 64
# Keras's BatchNormalization on the torch backend is float64 only in name: one layer on a
# float64 input differs from (x - mean) / sqrt(variance + epsilon) by 2.5e-7 (measured), as
# float32 would. Through 50 of them the outputs agree to about 1e-7 of their largest value;
# the tolerance is float32's, 1e-5 of it. (Rescaling, Normalization, convolutions before the
# first BatchNormalization agree to the last bit, 4e-16.)
TOLERANCE = 1e-5

# name: (example file, the keras.applications builder, the layers whose outputs are compared
# besides the network's, Keras's published totals: total, trainable, non-trainable, from
# Model.summary() of keras.applications at 224x224; keras.io's table rounds EfficientNetB0's
# to 5.3M), and torchvision's figures for the same architecture (mobilenet_v3_large,
# efficientnet_b0: num_params, which match Keras's trainable count, and _ops in GMACs).
MODELS = {
    "mobilenetv3-large": ("mobilenetv3-large.yaml", keras.applications.MobileNetV3Large,
                          ("expanded_conv_3_squeeze_excite_mul", "conv_1_bn", "logits"), (5_507_432, 5_483_032, 24_400),
                          (5_483_032, 0.217)),
    "efficientnetb0-keras": ("efficientnetb0-keras.yaml", keras.applications.EfficientNetB0,
                             ("block1a_se_excite", "block6d_add", "top_activation"), (5_330_571, 5_288_548, 42_023),
                             (5_288_548, 0.386)),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def pair(request):
    """(the example at 64x64, its summary, the Keras model in float64 with statistics drawn)."""
    file, builder, _, _, _ = MODELS[request.param]
    policy, floatx = keras.config.dtype_policy(), keras.config.floatx()
    keras.config.set_dtype_policy("float64")
    keras.config.set_floatx("float64")  # the Input layer's type
    try:
        model = builder(weights=None, input_shape=(SIZE, SIZE, 3))
    finally:
        keras.config.set_dtype_policy(policy)
        keras.config.set_floatx(floatx)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for weight in layer.weights:
            leaf = weight.path.rsplit("/", 1)[-1]
            if leaf in ("moving_mean", "mean", "beta"):
                weight.assign(rng.normal(0, 0.3, weight.shape))
            elif leaf in ("moving_variance", "variance", "gamma"):
                weight.assign(rng.uniform(0.5, 1.5, weight.shape))
    net = cnncalc.load(EXAMPLES / file, input_shape=(SIZE, SIZE, 3))
    return request.param, net, cnncalc.summary(net), model


# The names Keras gives layers it is not told to name (re_lu_3, activation_12, rescaling ...).
AUTOMATIC = ("re_lu", "activation", "add", "multiply", "global_average", "dropout", "flatten", "rescaling", "normalization")


def automatic(name: str) -> bool:
    return name.startswith(AUTOMATIC)


def keras_layer(model, name: str):
    """The Keras layer a cnncalc row stands for: by name ('.' for '_'); the only
    Normalization layer by its class (Keras names it automatically)."""
    if name.startswith("normalization"):
        return next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    try:
        return model.get_layer(name.replace(".", "_"))
    except ValueError:
        return None


def tensors(layer) -> dict:
    """A Keras layer's weights in cnncalc's (PyTorch's) names and layouts."""
    values = {w.path.rsplit("/", 1)[-1]: keras.ops.convert_to_numpy(w.value) for w in layer.weights}
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # (kh, kw, in, multiplier) -> (in * multiplier, 1, kh, kw)
        kernel = values["kernel"]
        return {"weight": kernel.reshape(*kernel.shape[:2], -1).transpose(2, 0, 1)[:, None]}
    if isinstance(layer, keras.layers.Conv2D):  # (kh, kw, in, out) -> (out, in, kh, kw)
        out = {"weight": values["kernel"].transpose(3, 2, 0, 1)}
        return out | ({"bias": values["bias"]} if "bias" in values else {})
    if isinstance(layer, keras.layers.Dense):
        return {"weight": values["kernel"].T, "bias": values["bias"]}
    if isinstance(layer, keras.layers.BatchNormalization):
        return {"weight": values["gamma"], "bias": values["beta"], "running_mean": values["moving_mean"],
                "running_var": values["moving_variance"]}
    if isinstance(layer, keras.layers.Normalization):
        return {"mean": values["mean"], "variance": values["variance"], "count": values["count"]}
    raise AssertionError(f"no weights expected in {layer.name}")


def test_published_totals_at_224():
    """keras.applications' own summaries: Total = Trainable + Non-trainable; torchvision's
    parameter count and GMACs for the same architecture."""
    for file, _, _, (total, trainable, frozen), (params, gmacs) in MODELS.values():
        totals = cnncalc.summary(cnncalc.load(EXAMPLES / file)).totals
        assert (totals.keras_trainable_params, totals.keras_non_trainable_params) == (trainable, frozen), file
        assert trainable + frozen == total
        assert totals.params == params and round(totals.macs / 1e9, 3) == gmacs, file


def test_params_and_every_named_layer(pair):
    name, net, summary, model = pair
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert (summary.totals.trainable_params, summary.totals.non_trainable_params) == (trainable, frozen)
    compared = set()
    for row in summary.layers:
        layer = keras_layer(model, row.name)
        if layer is None or (automatic(layer.name) and not isinstance(layer, keras.layers.Normalization)):
            continue
        assert tuple(layer.output.shape[1:]) == row.output_shape, row.name
        assert layer.count_params() == row.params + row.running_stats, row.name
        compared.add(layer.name)
    # Every layer Keras names itself is in the file under that name (the automatic ones,
    # re_lu_N, activation_N, add_N ..., have cnncalc's own names).
    named = {layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}
    unnamed = {n for n in named if automatic(n)}
    assert named - unnamed <= compared, sorted(named - unnamed - compared)
    assert len(compared) >= (140 if name.startswith("mobilenet") else 200)


def test_float64_outputs_with_keras_weights(pair):
    name, net, summary, model = pair
    params = {}
    for row in summary.layers:
        if row.weights or row.buffers:
            layer = keras_layer(model, row.name)
            params[row.name] = tensors(layer)
            assert {k: v.shape for k, v in params[row.name].items()} == dict(row.weights + row.buffers), row.name
    x = np.random.default_rng(1).integers(0, 256, (2, SIZE, SIZE, 3)).astype(np.float64)  # pixel values
    probes = MODELS[name][2]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in probes] + [model.output])
    theirs = [keras.ops.convert_to_numpy(t) for t in probe(x)]
    assert theirs[-1].dtype == np.float64
    ours = execute(net, params, x, keep=True)[1]
    last = summary.layers[-1].name
    by_keras_name = {row.name.replace(".", "_"): row.name for row in summary.layers}
    for keras_name, their in zip((*probes, None), theirs):
        our = ours[by_keras_name[keras_name] if keras_name else last]
        scale = float(np.abs(their).max())
        np.testing.assert_allclose(our, their, rtol=1e-5, atol=TOLERANCE * scale, err_msg=keras_name or "output")
