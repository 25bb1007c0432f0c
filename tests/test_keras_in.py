"""Keras models read from .keras files, against Keras itself (CONTRACT.md section 10).

Each model is built here with Keras 3 (keras.applications with weights=None, and small
Sequential and Functional models covering the layer classes cnncalc reads), its
BatchNormalization and Normalization statistics drawn away from 0 and 1, and saved with
model.save. Then cnncalc reads the file and must agree with the Keras model: the trainable
and non-trainable parameters, every Keras layer's output shape and parameter count (its row
has the Keras layer's name), and `cnncalc run` on the file (the weights from the file)
against Keras's forward pass on the same input, layer by layer, float32 to a relative 1e-4
of each output's largest value. `import` then `summary` gives the same totals.

The applications are built on a 32x32 input with 10 classes: the smallest size they allow,
and a small head, so the whole module stays within a few seconds.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")
from keras import layers  # noqa: E402

import cnncalc  # noqa: E402
from cnncalc.cli import main  # noqa: E402

SIZE = 32
TOLERANCE = 1e-4


def sequential_cnn():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(8, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, padding="same", use_bias=False),
        layers.LeakyReLU(negative_slope=0.1),
        layers.AveragePooling2D(3, strides=2, padding="same"),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(32, activation="gelu"),
        layers.Dense(10, activation="softmax"),
    ], name="small_cnn")


def branches():
    """A functional model with a branch and a concatenation, a nested Sequential model, a
    layer called twice (shared weights), and the other 2-D layer classes."""
    inputs = keras.Input((24, 24, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = layers.Conv2D(12, 3, strides=2, name="stem")(x)
    x = layers.ReLU(max_value=6.0)(x + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid: Keras operations on tensors
    x = 1.0 - x / 2.0
    a = layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, name="sep")(x)
    a = layers.PReLU(shared_axes=[1, 2])(a)
    b = layers.DepthwiseConv2D(5, padding="same", use_bias=True)(x)
    b = layers.GroupNormalization(groups=4)(b)
    b = layers.Conv2D(8, 1, activation="swish")(b)
    x = layers.Concatenate(name="joined")([a, b, x])
    block = keras.Sequential([layers.Conv2D(16, 3, padding="same"), layers.LayerNormalization(), layers.ELU()], name="block")
    x = block(x)
    shared = layers.Conv2D(16, 3, padding="same", activation="tanh", name="shared")
    y = shared(x)
    y = shared(y)
    x = layers.Add()([x, y])
    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = layers.Dense(16, activation="hard_sigmoid")(gate)
    x = layers.Multiply()([x, gate])
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", name="up_same")(x)
    x = layers.Conv2DTranspose(6, 2, strides=2, name="up_valid")(x)
    x = layers.Cropping2D(((2, 2), (1, 3)))(x)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = layers.MaxPooling2D(4)(x)
    x = layers.Permute((2, 1, 3))(x)
    x = layers.Reshape((-1, 6))(x)
    x = layers.Softmax(axis=1)(x)
    x = layers.GlobalMaxPooling1D()(x)
    out = layers.Activation("silu", name="out")(x)
    return keras.Model(inputs, out, name="branches")


def sequences():
    """1-D: an embedding of integer tokens, then convolutions and pooling over the positions."""
    tokens = keras.Input((40,), dtype="int32", name="tokens")
    x = layers.Embedding(50, 8)(tokens)
    x = layers.Conv1D(12, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(12, 3, dilation_rate=2)(x)
    x = layers.BatchNormalization()(x)
    x = layers.UpSampling1D(2)(x)
    x = layers.ZeroPadding1D((1, 2))(x)
    x = layers.DepthwiseConv1D(3, depth_multiplier=2, activation="mish")(x)
    x = layers.SeparableConv1D(8, 3, strides=2, padding="same")(x)
    x = layers.Conv1DTranspose(6, 4, strides=2, activation="softplus")(x)
    x = layers.Cropping1D((1, 2))(x)
    x = layers.AveragePooling1D(2, padding="same")(x)
    x = layers.SpatialDropout1D(0.2)(x)
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    x = layers.Identity()(x)
    x = layers.Dense(4, activation="softsign")(x)  # on every position
    x = layers.Softmax()(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, layers.Dense(3)(x), name="sequences")


def volumes():
    """3-D: convolutions, pooling, padding, cropping and upsampling of volumes; a frozen
    nested block."""
    inputs = keras.Input((8, 10, 10, 2))
    x = layers.ZeroPadding3D(1)(inputs)
    x = layers.Conv3D(4, 3, strides=(1, 2, 2), activation="elu")(x)
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)
    block = keras.Sequential([layers.Conv3D(4, 1), layers.SpatialDropout3D(0.1)], name="frozen")
    block.trainable = False
    x = block(x)
    x = layers.MaxPooling3D((2, 1, 1))(x)
    x = layers.Conv3DTranspose(3, 2, strides=2)(x)
    x = layers.Cropping3D(((1, 1), (0, 2), (2, 0)))(x)
    x = layers.UpSampling3D((1, 2, 1))(x)
    x = layers.AveragePooling3D(2, padding="same")(x)
    x = layers.GlobalAveragePooling3D()(x)
    return keras.Model(inputs, layers.Dense(5, activation="log_softmax")(x), name="volumes")


def channels_first():
    inputs = keras.Input((3, 12, 12))
    x = layers.Conv2D(6, 3, padding="same", data_format="channels_first", use_bias=False)(inputs)
    x = layers.BatchNormalization(axis=1)(x)
    x = layers.Activation("relu6")(x)
    x = layers.MaxPooling2D(2, data_format="channels_first")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, data_format="channels_first")(x)
    x = layers.GlobalMaxPooling2D(data_format="channels_first", keepdims=True)(x)
    x = layers.Flatten(data_format="channels_first")(x)
    return keras.Model(inputs, layers.Dense(4)(x), name="channels_first")


def two_heads():
    """Two inputs, two outputs; a layer frozen."""
    image = keras.Input((10, 10, 3), name="image")
    meta = keras.Input((4,), name="meta")
    x = layers.Conv2D(5, 3, name="frozen_conv", trainable=False)(image)
    x = layers.GlobalAveragePooling2D()(x)
    m = layers.Dense(5, activation="selu")(meta)
    joined = layers.Concatenate()([x, m])
    return keras.Model([image, meta], [layers.Dense(2, name="head_a")(joined), layers.Dense(3, name="head_b")(m)],
                       name="two_heads")


MODELS = {
    "mobilenetv2": lambda: keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), weights=None, classes=10),
    "efficientnetb0": lambda: keras.applications.EfficientNetB0(input_shape=(SIZE, SIZE, 3), weights=None, classes=10),
    "resnet50": lambda: keras.applications.ResNet50(input_shape=(SIZE, SIZE, 3), weights=None, classes=10),
    "small_cnn": sequential_cnn,
    "branches": branches,
    "sequences": sequences,
    "volumes": volumes,
    "channels_first": channels_first,
    "two_heads": two_heads,
}


def sample(model, rng):
    """One input (an array), or several (a dict by input name)."""
    arrays = {}
    for tensor in model.inputs:
        shape = (2, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            arrays[tensor.name] = rng.integers(0, 50, shape).astype("int32")
        else:
            arrays[tensor.name] = rng.uniform(0, 255, shape).astype("float32")
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


@pytest.fixture(scope="module", params=sorted(MODELS))
def saved(request, tmp_path_factory):
    """(the Keras model, its .keras file, an input, every layer's output in Keras, cnncalc's
    summary of the file)."""
    model = MODELS[request.param]()
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for weight in layer.weights:
            leaf = weight.path.rsplit("/", 1)[-1]
            if leaf in ("moving_mean", "mean", "beta"):
                weight.assign(rng.normal(0, 0.3, weight.shape))
            elif leaf in ("moving_variance", "variance", "gamma"):
                weight.assign(rng.uniform(0.5, 1.5, weight.shape))
    path = tmp_path_factory.mktemp("keras") / f"{request.param}.keras"
    model.save(path)
    x = sample(model, rng)
    probed = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in probed])
    outputs = {layer.name: keras.ops.convert_to_numpy(y) for layer, y in zip(probed, probe(x))}
    return model, path, x, outputs, cnncalc.summary(cnncalc.load(path))


def test_params_and_every_layer(saved):
    model, path, _, _, summary = saved
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert (summary.totals.trainable_params, summary.totals.non_trainable_params) == (trainable, frozen)
    assert trainable + frozen == model.count_params()
    rows = {row.name: row for row in summary.layers}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):  # a nested model: its layers are rows MODEL.LAYER
            inner = [rows[f"{layer.name}.{sub.name}"] for sub in layer.layers]
            assert inner[-1].output_shape == tuple(layer.output.shape[1:])
            assert sum(r.params + r.running_stats for r in inner) == layer.count_params()
            continue
        row = rows[layer.name]
        assert row.output_shape == tuple(layer.output.shape[1:]), layer.name
        assert row.params + row.running_stats == layer.count_params(), layer.name


def test_run_on_the_file_equals_keras(saved, tmp_path):
    model, path, x, theirs, _ = saved
    if isinstance(x, dict):  # several inputs: an .npz keyed by input name
        data = tmp_path / "x.npz"
        np.savez(data, **x)
    else:
        data = tmp_path / "x.npy"
        np.save(data, x)
    result = CliRunner().invoke(main, ["run", str(path), "--data", str(data), "--save",
                                       str(tmp_path / "out.npz"), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["random_weights"] == []  # every weight came from the file
    ours = np.load(tmp_path / "out.npz")
    compared = 0
    for name, their in theirs.items():
        if name not in ours.files:  # a nested model's output is its last layer's (MODEL.LAYER)
            continue
        our = ours[name]
        assert our.shape == their.shape, name
        scale = float(np.abs(their).max()) or 1.0
        np.testing.assert_allclose(our, their, rtol=0, atol=TOLERANCE * scale, err_msg=name)
        compared += 1
    assert compared >= len(theirs) - 1


def test_import_then_summary_gives_the_same_totals(saved, tmp_path):
    _, path, _, _, summary = saved
    result = CliRunner().invoke(main, ["import", str(path)])
    assert result.exit_code == 0, result.output
    (tmp_path / "net.yaml").write_text(result.stdout)
    again = cnncalc.summary(cnncalc.load(tmp_path / "net.yaml")).totals
    first = summary.totals
    assert (again.params, again.trainable_params, again.non_trainable_params, again.macs, again.flops) == (
        first.params, first.trainable_params, first.non_trainable_params, first.macs, first.flops)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "small.keras"
    sequential_cnn().save(path)
    return path


def test_config_only_commands_read_no_weights(small, monkeypatch):
    """Without h5py, summary reads config.json alone; run names the extra that installs it."""
    import builtins

    path = small
    real = builtins.__import__

    def without_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("h5py")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_h5py)
    assert CliRunner().invoke(main, ["summary", str(path)]).exit_code == 0
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert result.stderr == ("cnncalc: error: reading the weights of a Keras file needs the h5py package; install it "
                             "with: pip install 'cnncalc[keras]'\n")


def test_a_file_without_weights_runs_on_drawn_ones(small, tmp_path):
    path = small
    bare = tmp_path / "bare.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bare, "w") as target:
        for name in ("config.json", "metadata.json"):
            target.writestr(name, source.read(name))
    result = CliRunner().invoke(main, ["run", str(bare), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["random_weights"]


def test_a_member_over_its_limit_is_refused(small, monkeypatch):
    from cnncalc.source import kerasformat

    monkeypatch.setattr(kerasformat, "MAX_CONFIG_BYTES", 100)
    result = CliRunner().invoke(main, ["summary", str(small)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{small}:1:1: error: {small}: config.json holds more than the limit of 100 bytes "
                                    "for a model's structure\n")


def test_a_type_without_a_keras_weight_layout_says_so():
    from cnncalc.layers import Layout

    node = cnncalc.loads("input 4x4x3 | scale", format="dsl").nodes[0]
    facts = node.layer.infer(((4, 4, 3),), Layout(True))
    with pytest.raises(cnncalc.CnnError, match="cnncalc does not know how Keras lays out the weights of a scale layer "
                                               r"\(1 arrays in the file\)"):
        node.layer.keras_tensors([np.ones(3)], facts)


def test_the_readme_shows_real_runs(monkeypatch):
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    blocks = re.findall(r"```text\n(.*?)```", (root / "README.md").read_text(), re.DOTALL)
    for command, first in ((["summary", "examples/small-cnn.keras", "--depth", "0"], "small_cnn: input"),
                           (["import", "examples/small-cnn.keras", "--to", "dsl"], "name small_cnn")):
        shown = [b for b in blocks if b.startswith(first)]
        assert len(shown) == 1, first
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0 and result.stdout == shown[0]


def test_damaged_configs_are_errors_never_tracebacks(tmp_path):
    """config.json with values replaced or removed at random (seeded): reading it gives the
    network or a CnnError, never another exception."""
    import copy
    import random
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "small-cnn.keras"
    with zipfile.ZipFile(example) as archive:
        config = json.loads(archive.read("config.json"))
    replacements = [None, True, 0, -1, 3.5, "x", [], {}, [None], [1, 2], {"a": 1}, "channels_first", [[1]], 10**30]
    rng = random.Random(0)
    path = tmp_path / "damaged.keras"
    for _ in range(80):
        damaged = copy.deepcopy(config)
        for _ in range(rng.randint(1, 3)):
            places = []

            def walk(value, at):
                places.append(at)
                items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
                for key, inner in items:
                    walk(inner, (*at, key))

            walk(damaged, ())
            *parent_path, key = rng.choice(places[1:])
            parent = damaged
            for step in parent_path:
                parent = parent[step]
            if isinstance(parent, dict) and rng.random() < 0.2:
                del parent[key]
            else:
                parent[key] = rng.choice(replacements)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps(damaged))
        try:
            cnncalc.summary(cnncalc.load(path))
        except cnncalc.CnnError:
            pass


def test_import_with_weights_runs_as_the_file_does(tmp_path, monkeypatch):
    """import --weights W.npz writes the file's weights in cnncalc's names: the imported file
    run with them gives every layer's output bit for bit as the .keras file does."""
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    runner = CliRunner()
    imported = runner.invoke(main, ["import", "examples/small-cnn.keras", "--weights", str(tmp_path / "w.npz")])
    assert imported.exit_code == 0, imported.output
    (tmp_path / "net.yaml").write_text(imported.stdout)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32"))
    for source, extra, out in (("examples/small-cnn.keras", [], "a.npz"),
                               (str(tmp_path / "net.yaml"), ["--weights", str(tmp_path / "w.npz")], "b.npz")):
        result = runner.invoke(main, ["run", source, *extra, "--data", str(tmp_path / "x.npy"), "--save", str(tmp_path / out),
                                      "--format", "json"])
        assert result.exit_code == 0 and json.loads(result.stdout)["random_weights"] == [], result.output
    first, second = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert sorted(first.files) == sorted(second.files) and len(first.files) == 13
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])


def test_input_sets_another_size(monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    summary = cnncalc.summary(cnncalc.load("examples/small-cnn.keras", input_shape=(64, 48, 3)))
    assert summary.layers[1].output_shape == (32, 24, 16)
    assert summary.totals.params == cnncalc.summary(cnncalc.load("examples/small-cnn.keras")).totals.params
