"""The Keras forms of the layer types Keras lacks (scale, channel_shuffle, lppool, stochastic
depth, an upsampling to another layer's size) compute what cnncalc computes: the exported
model, run by Keras with cnncalc's weights, against cnncalc's NumPy forward pass, in both
layouts. (Their PyTorch forms are compared value for value by tests/test_export.py.)
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

os.environ.setdefault("KERAS_BACKEND", "torch")

import cnncalc  # noqa: E402
from cnncalc.export import keras_name, to_keras  # noqa: E402
from cnncalc.forward.runner import execute  # noqa: E402

LAYERS = [
    {"conv2d": {"out": 6, "kernel": 3, "padding": 1}, "name": "c1"},
    {"scale": {"bias": True}, "name": "s1"},
    {"channel_shuffle": 3, "name": "shuffle"},
    {"stochastic_depth": 0.2, "name": "drop"},
    {"lppool2d": {"norm_type": 2, "kernel": 2}, "name": "lp"},
    {"conv2d": {"out": 6, "kernel": 1}, "name": "c2"},
    {"upsample": {"like": "c1", "mode": "bilinear"}, "name": "up"},
    {"add": ["up", "c1"], "name": "sum"},
    {"permute": [0, 2, 1, 3], "name": "turn"},
]


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_keras_forms_compute_what_cnncalc_computes(layout):
    import keras

    shape = [3, 10, 14] if layout == "channels_first" else [10, 14, 3]
    layers = [dict(layer) for layer in LAYERS]
    if layout == "channels_last":  # the same conv2d widths: the last permute swaps H and W either way
        layers[-1] = {"permute": [2, 1, 3], "name": "turn"}
    text = yaml.safe_dump({"input": shape, "layout": layout, "layers": layers}, sort_keys=False)
    net = cnncalc.loads(text, format="yaml", path="case.yaml")
    namespace: dict = {"__name__": "exported"}
    exec(compile(to_keras(net), "<exported>", "exec"), namespace)
    model = namespace["build_model"]()
    rng = np.random.default_rng(0)
    params = {}
    for node in net.nodes:
        layer = model.get_layer(keras_name(node.name))
        if not layer.weights:
            continue
        arrays = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.weights]
        layer.set_weights(arrays)
        if node.name.startswith("c"):  # Keras's kernel (kh, kw, in, out) is PyTorch's (out, in, kh, kw)
            params[node.name] = {"weight": arrays[0].transpose(3, 2, 0, 1), "bias": arrays[1]}
        else:
            params[node.name] = {"gamma": arrays[0], "beta": arrays[1]}
    x = rng.normal(size=(2, *shape)).astype("float32")
    ours = execute(net, params, x)[0]
    theirs = keras.ops.convert_to_numpy(model(x))
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4)


def test_like_inside_a_block_reads_the_instances_own_names():
    """like: names resolve as from: does: `input` is the instance's input, a block's own
    layer is the instance's; the network then works at any size."""
    text = """
input: [3, 20, 28]
blocks:
  head:
    layers:
      - maxpool2d: 2
        name: small
      - conv2d: {out: 3, kernel: 1}
        name: conv
      - upsample: {like: input, mode: bilinear}
        name: back
      - upsample: {like: small}
        from: input
        name: down
layers:
  - conv2d: {out: 3, kernel: 3, stride: 2, padding: 1}
    name: stem
  - head:
    name: h0
"""
    for size in ("[3, 20, 28]", "[3, 33, 17]"):
        net = cnncalc.loads(text.replace("[3, 20, 28]", size), format="yaml", path="case.yaml")
        rows = {row.name: row for row in cnncalc.summary(net).layers}
        stem = rows["stem"].output_shape
        assert rows["h0.back"].inputs == ("h0.conv", "stem")
        assert rows["h0.back"].output_shape == stem
        assert rows["h0.down"].inputs == ("stem", "h0.small")
        assert rows["h0.down"].output_shape == rows["h0.small"].output_shape == (3, stem[1] // 2, stem[2] // 2)
