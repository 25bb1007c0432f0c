"""Keras conventions checked against Keras 3 itself (KERAS_BACKEND=torch), channels_last.

TensorFlow's 'same' with strides, Keras's transposed-conv 'same'/'valid' (with and without
output_padding), depthwise and separable convs, BatchNormalization's scale/center and
moving statistics (non-trainable), UpSampling, Cropping, ZeroPadding, pooling 'same', Permute
and Embedding.
Both must agree on output shape and trainable / non-trainable counts, or both reject.
"""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402

from cnncalc.errors import CnnError  # noqa: E402
from helpers import summarise  # noqa: E402

L = keras.layers
KERAS_CONV = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}
KERAS_CONVT = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}
KERAS_MAX = {1: L.MaxPooling1D, 2: L.MaxPooling2D, 3: L.MaxPooling3D}
KERAS_AVG = {1: L.AveragePooling1D, 2: L.AveragePooling2D, 3: L.AveragePooling3D}


def conv(draw, rank):
    filters, kernel = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    stride = draw(st.integers(1, 3))
    dilation = 1 if stride > 1 else draw(st.integers(1, 2))  # Keras refuses both above 1
    padding = draw(st.sampled_from(["same", "valid"]))
    ours = {f"conv{rank}d": {"filters": filters, "kernel_size": kernel, "strides": stride, "padding": padding, "dilation_rate": dilation}}
    return ours, KERAS_CONV[rank](filters, kernel, strides=stride, padding=padding, dilation_rate=dilation)


def conv_transpose(draw, rank):
    filters, kernel = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    stride = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["same", "valid"]))
    extra = draw(st.one_of(st.none(), st.integers(0, stride - 1)))
    attrs = {"filters": filters, "kernel_size": kernel, "strides": stride, "padding": padding}
    if extra is not None:
        attrs["output_padding"] = extra
    layer = KERAS_CONVT[rank](filters, kernel, strides=stride, padding=padding, output_padding=extra)
    return {f"conv_transpose{rank}d": attrs}, layer


def depthwise(draw, rank):
    kernel, multiplier = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 2)), draw(st.sampled_from(["same", "valid"]))
    layer = (L.DepthwiseConv1D if rank == 1 else L.DepthwiseConv2D)(kernel, strides=stride, padding=padding, depth_multiplier=multiplier)
    return {f"DepthwiseConv{rank}D": {"kernel_size": kernel, "strides": stride, "padding": padding, "depth_multiplier": multiplier}}, layer


def separable(draw, rank):
    filters, kernel, multiplier = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid"]))
    layer = (L.SeparableConv1D if rank == 1 else L.SeparableConv2D)(filters, kernel, padding=padding, depth_multiplier=multiplier)
    return {f"SeparableConv{rank}D": {"filters": filters, "kernel_size": kernel, "padding": padding, "depth_multiplier": multiplier}}, layer


def pooling(draw, rank):
    size, stride = draw(st.integers(1, 4)), draw(st.one_of(st.none(), st.integers(1, 3)))
    padding = draw(st.sampled_from(["same", "valid"]))
    maximum = draw(st.booleans())
    attrs = {"pool_size": size, "padding": padding}
    if stride is not None:
        attrs["strides"] = stride
    name = f"MaxPooling{rank}D" if maximum else f"AveragePooling{rank}D"
    layer = (KERAS_MAX if maximum else KERAS_AVG)[rank](size, strides=stride, padding=padding)
    return {name: attrs}, layer


def batchnorm(draw, rank):
    scale, center = draw(st.booleans()), draw(st.booleans())
    return {"BatchNormalization": {"scale": scale, "center": center}}, L.BatchNormalization(scale=scale, center=center)


def upsampling(draw, rank):
    size = draw(st.integers(1, 3))
    layers = {1: L.UpSampling1D, 2: L.UpSampling2D, 3: L.UpSampling3D}
    return {f"UpSampling{rank}D": {"size": size}}, layers[rank](size)


def cropping(draw, rank):
    amounts = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(rank)]
    layers = {1: L.Cropping1D, 2: L.Cropping2D, 3: L.Cropping3D}
    keras_value = tuple(amounts[0]) if rank == 1 else tuple(tuple(a) for a in amounts)
    return {f"Cropping{rank}D": amounts}, layers[rank](keras_value)


def zero_padding(draw, rank):
    amounts = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(rank)]
    layers = {1: L.ZeroPadding1D, 2: L.ZeroPadding2D, 3: L.ZeroPadding3D}
    keras_value = tuple(amounts[0]) if rank == 1 else tuple(tuple(a) for a in amounts)
    return {f"ZeroPadding{rank}D": amounts}, layers[rank](keras_value)


def global_pooling(draw, rank):
    maximum, keep = draw(st.booleans()), draw(st.booleans())
    name = f"GlobalMaxPooling{rank}D" if maximum else f"GlobalAveragePooling{rank}D"
    return {name: {"keepdims": keep}}, getattr(L, name)(keepdims=keep)


def dense(draw, rank):
    units = draw(st.integers(1, 6))
    return {"Dense": {"units": units, "activation": "relu"}}, L.Dense(units, activation="relu")


def layer_norm(draw, rank):
    return {"LayerNormalization": None}, L.LayerNormalization()


def group_norm(draw, rank):
    groups = draw(st.integers(1, 4))
    return {"GroupNormalization": {"groups": groups}}, L.GroupNormalization(groups=groups)


def permute(draw, rank):
    dims = [d + 1 for d in draw(st.permutations(range(rank + 1)))]
    return {"Permute": {"dims": dims}}, L.Permute(tuple(dims))


def embedding(draw, rank):
    """On the input as indices (a (L, C) or (H, W, C) array of them): Keras's Embedding
    appends the table's width to any input shape."""
    num, dim = draw(st.integers(1, 50)), draw(st.integers(1, 8))
    return {"Embedding": {"input_dim": num, "output_dim": dim}}, L.Embedding(num, dim)
def rescaling(draw, rank):
    scale = draw(st.sampled_from([0.5, 1 / 255, -2.0]))
    offset = draw(st.sampled_from([0.0, -1.0, 3.0]))
    return {"Rescaling": {"scale": scale, "offset": offset}}, L.Rescaling(scale, offset=offset)


def normalization(draw, rank):
    """Keras's Normalization: mean, variance and count non-trainable (2C + 1), or none when
    the statistics are given; its axis must be the channels (cnncalc's only form)."""
    axis = draw(st.sampled_from([-1, -1, 1]))
    if draw(st.booleans()):
        return {"Normalization": {"axis": axis, "mean": 0.5, "variance": 2.0}}, L.Normalization(axis=axis, mean=0.5, variance=2.0)
    return {"Normalization": {"axis": axis}}, L.Normalization(axis=axis)


def activation(draw, rank):
    name = draw(st.sampled_from(["relu", "swish", "silu", "hard_sigmoid", "hard_swish", "gelu", "softmax", "leaky_relu", "linear"]))
    return {"Activation": name}, L.Activation(name)


CASES = {
    "conv": (conv, (1, 2, 3)),
    "conv_transpose": (conv_transpose, (1, 2, 3)),
    "depthwise": (depthwise, (1, 2)),
    "separable": (separable, (1, 2)),
    "pooling": (pooling, (1, 2, 3)),
    "batchnorm": (batchnorm, (1, 2)),
    "upsampling": (upsampling, (1, 2, 3)),
    "cropping": (cropping, (1, 2, 3)),
    "zero_padding": (zero_padding, (1, 2, 3)),
    "global_pooling": (global_pooling, (1, 2, 3)),
    "dense": (dense, (1, 2)),
    "layer_norm": (layer_norm, (1, 2)),
    "group_norm": (group_norm, (1, 2)),
    "permute": (permute, (1, 2, 3)),
    "embedding": (embedding, (1, 2)),
    "rescaling": (rescaling, (1, 2, 3)),
    "normalization": (normalization, (1, 2)),
    "activation": (activation, (1, 2)),
}


def keras_counts(model):
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    return trainable, frozen


@pytest.mark.parametrize("family", CASES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_agrees_with_keras(family, data):
    make, ranks = CASES[family]
    rank = data.draw(st.sampled_from(ranks))
    channels = data.draw(st.integers(1, 4))
    spatial = [data.draw(st.integers(1, 9)) for _ in range(rank)]
    shape = [*spatial, channels]
    ours_layer, keras_layer = make(data.draw, rank)
    try:
        summary = summarise({"input": shape, "layout": "channels_last", "layers": [ours_layer]})
        ours = None
    except CnnError as exc:
        ours = exc
    try:
        inputs = keras.Input(tuple(shape))
        model = keras.Model(inputs, keras_layer(inputs))
        out_shape = tuple(model.output.shape[1:])
        theirs = None if all(d and d > 0 for d in out_shape) else ValueError(f"empty output {out_shape}")
    except ValueError as exc:
        theirs = exc
    groups = ours_layer.get("GroupNormalization", {}).get("groups")
    if family == "normalization" and keras_layer.axis == (1,):  # a spatial axis, channels last
        # Keras normalises along any axis; cnncalc along the channels only, and says so.
        assert ours is not None and "normalises per channel only" in str(ours)
        return
    if family == "group_norm" and channels % groups == 0 and math.prod(shape) == groups:
        # One value per group: Keras builds it (the output is its beta), PyTorch refuses it
        # for one sample; cnncalc follows PyTorch and says why.
        assert ours is not None and "a single value gives a variance of 0" in str(ours)
        return
    assert (ours is None) == (theirs is None), f"cnncalc: {ours!r}\nKeras: {theirs!r}\n{shape} {ours_layer}"
    if ours is not None:
        return
    assert summary.layers[-1].output_shape == out_shape, (shape, ours_layer)
    trainable, frozen = keras_counts(model)
    assert (summary.totals.trainable_params, summary.totals.non_trainable_params) == (trainable, frozen)


TRANSPOSED_GRID = [
    (n, k, s, padding, extra)
    for n in (1, 2, 5)
    for k in (1, 2, 3, 4)
    for s in (1, 2, 3)
    for padding in ("same", "valid")
    for extra in (None, *range(s))
]


@pytest.mark.parametrize("n,k,s,padding,extra", TRANSPOSED_GRID)
def test_transposed_sizes_match_keras_on_a_grid(n, k, s, padding, extra):
    """Every small case, kernel below the stride included (Keras's max(ke, s) rule)."""
    layer = L.Conv1DTranspose(2, k, strides=s, padding=padding, output_padding=extra)
    attrs = {"out": 2, "kernel": k, "stride": s, "padding": padding}
    if extra is not None:
        attrs["output_padding"] = extra
    assert our_size(n, {"conv_transpose1d": attrs}) == keras_size(layer, n)


CONV_GRID = [(n, k, s, d, padding) for n in range(1, 10) for k in (1, 2, 3, 5) for s in (1, 2, 3) for d in (1, 2) for padding in ("same", "valid") if s == 1 or d == 1]


def keras_size(layer, n):
    """Keras's output length for an input of length n, or None where Keras refuses it."""
    try:
        size = layer.compute_output_shape((1, n, 1))[1]
    except ValueError:
        return None
    return size if size and size > 0 else None


def our_size(n, layer):
    try:
        return summarise({"input": [n, 1], "layout": "channels_last", "layers": [layer]}).layers[-1].output_shape[0]
    except CnnError:
        return None


@pytest.mark.parametrize("n,k,s,d,padding", CONV_GRID)
def test_conv_and_pool_sizes_match_keras_on_a_grid(n, k, s, d, padding):
    """TensorFlow 'same' (any stride, odd padding after) and 'valid' for conv and pooling."""
    conv = {"conv1d": {"out": 1, "kernel": k, "stride": s, "dilation": d, "padding": padding}}
    assert our_size(n, conv) == keras_size(L.Conv1D(1, k, strides=s, dilation_rate=d, padding=padding), n)
    if d == 1:
        pool = {"maxpool1d": {"kernel": k, "stride": s, "padding": padding}}
        assert our_size(n, pool) == keras_size(L.MaxPooling1D(k, strides=s, padding=padding), n)


KERAS_SPELLED = [
    ("BatchNormalization", L.BatchNormalization, ("epsilon", "momentum")),
    ("LayerNormalization", L.LayerNormalization, ("epsilon",)),
    ("GroupNormalization", L.GroupNormalization, ("epsilon", "groups")),
    ("Activation", lambda: L.Activation("leaky_relu"), ()),
]


@pytest.mark.parametrize("name, make, options", KERAS_SPELLED, ids=[c[0] for c in KERAS_SPELLED])
def test_keras_spellings_take_keras_defaults(name, make, options):
    """Written with Keras's spelling and no options, the exported Keras layer has the options
    Keras's own layer has by default (epsilon 1e-3, momentum 0.99, 32 groups), and the same
    values in float64 as Keras's layer on the same input."""
    from cnncalc.export import to_keras

    import cnncalc

    value = "leaky_relu" if name == "Activation" else None
    net = cnncalc.loads(yaml_text({"input": [4, 4, 64], "layout": "channels_last", "layers": [{name: value, "name": "n"}]}), format="yaml")
    namespace: dict = {}
    exec(compile(to_keras(net), "<exported>", "exec"), namespace)
    exported = namespace["build_model"]().get_layer("n")
    theirs = make()
    for option in options:
        assert exported.get_config()[option] == theirs.get_config()[option], option
    import numpy as np

    from cnncalc.forward.runner import execute

    x = np.random.default_rng(0).normal(size=(2, 4, 4, 64))
    expected = keras.ops.convert_to_numpy(theirs(x)).astype(np.float64)
    params = {}
    if theirs.weights:
        keys = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
        params["n"] = {keys[w.path.rsplit("/", 1)[-1]]: keras.ops.convert_to_numpy(w.value).astype(np.float64) for w in theirs.weights}
    got = execute(net, params, x)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)  # Keras computes in float32


def yaml_text(document) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False)


def test_a_fused_activation_means_what_keras_computes_by_its_name():
    """Dense(activation="leaky_relu") in Keras has slope 0.2 (keras.activations.leaky_relu),
    not the 0.01 of PyTorch's LeakyReLU: the same output from the same weights."""
    import numpy as np

    import cnncalc
    from cnncalc.forward.runner import execute

    net = cnncalc.loads(yaml_text({"input": [6], "layers": [{"Dense": {"units": 5, "activation": "leaky_relu"}, "name": "d"}]}), format="yaml")
    dense = L.Dense(5, activation="leaky_relu")
    x = np.random.default_rng(0).normal(size=(4, 6))
    expected = keras.ops.convert_to_numpy(dense(x)).astype(np.float64)
    kernel, bias = (keras.ops.convert_to_numpy(w.value).astype(np.float64) for w in dense.weights)
    got = execute(net, {"d": {"weight": kernel.T, "bias": bias}}, x)[0]
    assert (expected < 0).any()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
