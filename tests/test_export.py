"""`cnncalc export`: the written code is run, and must build the network cnncalc computed.

PyTorch: the same state_dict keys and shapes (CONTRACT.md §5), the same parameter count,
every layer's output shape, and, with the same weights, the same output values as cnncalc's
own NumPy forward pass. Keras: the same parameter counts and every layer's output shape.
Every example (the big ones on a smaller input: the same code, cheaper to run), and every
layer type on random attributes in both layouts. The examples' .dsl versions are the same
networks (tests/test_dsl.py), so here they only have to export to the same code.
Whether names and strings from the file stay inert is tests/test_export_safety.py's.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncalc import graph as network_mod
from cnncalc.source import yamlformat
from cnncalc.analysis import analyse
from cnncalc.source.blocks import expand
from cnncalc.source.reading import Source, load_source as load_network
from cnncalc.errors import CnnError
from cnncalc.export import keras_name, to_keras, to_pytorch
from cnncalc.export.pytorch import MODULE_ATTRIBUTES, MODULE_DICT_ATTRIBUTES
from cnncalc.forward.runner import execute, index_range
from oracle import all_types, family_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
YAML_EXAMPLES = sorted(EXAMPLES.glob("*.yaml"))
DSL_EXAMPLES = sorted(EXAMPLES.glob("*.dsl"))
# Smaller inputs for the examples that take long to build or run at their own size.
SMALL_INPUTS = {"vgg16": "3x64x64", "alexnet": "3x96x96", "convnext-tiny": "3x32x32", "deeplabv3": "3x32x32",
                "mobilenetv3-large": "64x64x3", "efficientnetb0-keras": "64x64x3"}


@functools.lru_cache(maxsize=None)
def example(path: Path):
    """The example as tests run it: big ones on a smaller input (the same code). U-Net's
    crop sizes are written for its 572x572 input, so its smaller input (188x188, the
    smallest its four 2x2 poolings and unpadded convolutions allow) comes with crops of 8."""
    if path.stem == "unet":
        document = yaml.safe_load(path.read_text())
        document["input"] = [1, 188, 188]
        for layer in document["layers"]:
            if isinstance(layer, dict) and "up" in layer:
                layer["up"]["size"] = 8
        return network_of(document)
    net = load_network(Source(str(path), None), None)
    small = SMALL_INPUTS.get(net.name)
    return load_network(Source(str(path), None), small) if small else net


@functools.lru_cache(maxsize=None)
def exported(path: Path, framework: str) -> str:
    """The example's code, written once per framework for all the tests that read it."""
    return (to_pytorch if framework == "pytorch" else to_keras)(example(path))


def build(code: str):
    namespace: dict = {"__name__": "exported"}
    exec(compile(code, "<exported>", "exec"), namespace)
    return namespace["Net"]().double().eval()


def network_of(document: dict):
    text = yaml.safe_dump(document, sort_keys=False)
    return network_mod.build(expand(yamlformat.read(text, "case.yaml")))


def randomise_statistics(model, rng) -> None:
    """Running statistics away from 0 and 1, so that a mix-up between them shows."""
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean"):
            buffer.copy_(torch.from_numpy(rng.normal(0, 0.5, buffer.shape)))
        elif name.endswith("running_var"):
            buffer.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, buffer.shape)))


def value_shapes_of(net) -> dict:
    """Every value's shape: the inputs', each layer's (a tuple of shapes for a layer with
    several outputs) and each NAME.i's."""
    shapes = dict(net.inputs)
    for row in analyse(net).layers:
        shapes[row.name] = row.output_shape
        if row.output_shape and isinstance(row.output_shape[0], tuple):
            shapes.update({f"{row.name}.{i}": shape for i, shape in enumerate(row.output_shape)})
    return shapes


def check_export(net, batch: int = 2, seed: int = 0, tolerance: float = 1e-9, code: str | None = None):
    """The exported module against cnncalc: the state_dict's keys and shapes, the parameter
    counts, each plain module's output shape, and every output's values (float64) against
    cnncalc's NumPy forward pass with the same weights. Returns the module."""
    summary = analyse(net)
    model = build(code or to_pytorch(net))
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        randomise_statistics(model, rng)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    expected = {f"{row.name}.{w}": shape for row in summary.layers for w, shape in (*row.weights, *row.buffers)}
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert sum(p.numel() for p in model.parameters()) == summary.totals.params
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == summary.totals.trainable_params

    shapes = {}
    modules = dict(model.named_modules())
    outputs = value_shapes_of(net)
    shared = {node.share for node in net.nodes if node.share}  # called more than once
    plain = {  # layers that are exactly their module (no pad, slice or activation around it)
        node.name
        for node in net.nodes
        if node.layer.torch(tuple(outputs[s] for s in node.inputs), outputs[node.name], net.layout).expression == "{m}({x})"
    }
    for row in summary.layers:
        if row.name in modules and row.name in plain and row.name not in shared:
            modules[row.name].register_forward_hook(lambda m, i, o, name=row.name: shapes.__setitem__(name, tuple(o.shape[1:])))
    x = {name: rng.normal(size=(batch, *shape)) if index_range(net, name) is None
         else rng.integers(*index_range(net, name), size=(batch, *shape)).astype(float) for name, shape in net.inputs.items()}
    with torch.no_grad():
        theirs = model(*(torch.from_numpy(x[name]) for name in net.inputs))
    theirs = tuple(t.numpy() for t in theirs) if isinstance(theirs, tuple) else (theirs.numpy(),)
    params = {row.name: {w: state[f"{row.name}.{w}"].numpy() for w, _ in (*row.weights, *row.buffers)} for row in summary.layers}
    ours = execute(net, params, x if len(x) > 1 else next(iter(x.values())))[0]
    ours = ours if isinstance(ours, tuple) else (ours,)
    assert len(theirs) == len(ours) == len(net.outputs)
    for value, their, our in zip(net.outputs, theirs, ours):
        assert their.shape == our.shape == (batch, *outputs[value]), value
    for row in summary.layers:
        if row.name in shapes:  # a module's output: in PyTorch's channel order inside the net
            channels_first = (row.output_shape[-1], *row.output_shape[:-1])
            assert shapes[row.name] in (row.output_shape, channels_first), row.name
    for value, their, our in zip(net.outputs, theirs, ours):
        scale = max(1.0, float(np.abs(our).max()))
        np.testing.assert_allclose(their, our, rtol=tolerance, atol=tolerance * scale, err_msg=value)
    return model


@pytest.mark.parametrize("path", YAML_EXAMPLES, ids=lambda p: p.name)
def test_every_example_exports_to_pytorch(path):
    check_export(example(path), batch=1, tolerance=1e-8, code=exported(path, "pytorch"))


@pytest.mark.parametrize("path", DSL_EXAMPLES, ids=lambda p: p.name)
def test_the_dsl_examples_export_to_the_code_of_their_yaml(path):
    dsl = load_network(Source(str(path), None), None)
    twin = load_network(Source(str(path.with_suffix(".yaml")), None), None)
    assert to_pytorch(dsl) == to_pytorch(twin)
    assert to_keras(dsl) == to_keras(twin)


def rotated(shape: list[int]) -> list[int]:
    return [*shape[1:], shape[0]] if len(shape) > 1 else shape


def random_layer_network(cls, data):
    """One layer of this type on random attributes (tests/oracle.py), in either layout;
    None when cnncalc rejects it (test_torch_oracle checks that PyTorch does too)."""
    shape, layers, _ = family_of(cls)(data.draw, cls)
    channels_last = data.draw(st.booleans())
    document = {"input": rotated(shape) if channels_last else shape, "layers": layers}
    if channels_last:
        document["layout"] = "channels_last"
    try:
        net = network_of(document)
        analyse(net)
    except CnnError:
        return None
    return net


@pytest.mark.parametrize("cls", all_types(), ids=lambda c: c.type_name)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_layer_type_exports_to_pytorch(cls, data):
    net = random_layer_network(cls, data)
    if net is not None:
        check_export(net)


def test_tensorflow_same_with_stride_2_becomes_an_explicit_pad():
    net = network_of({"input": [3, 8, 8], "layers": [{"conv2d": {"out": 4, "kernel": 3, "stride": 2, "padding": "same"}}]})
    code = to_pytorch(net)
    assert "F.pad(x, (0, 1, 0, 1))" in code
    check_export(net)


def test_repeated_blocks_become_one_class_and_a_sequential():
    code = exported(EXAMPLES / "resnet50.yaml", "pytorch")
    assert code.count("class Bottleneck(nn.Module)") == 1
    assert "self.layer1 = nn.Sequential(" in code
    assert "x = self.layer4(x)" in code


def test_a_name_pytorch_cannot_hold_is_refused_with_its_location():
    net = network_of({"input": [3, 8, 8], "layers": [{"conv2d": {"out": 4, "kernel": 1}, "name": "a"}, {"conv2d": {"out": 4, "kernel": 1}, "name": "a.b"}]})
    with pytest.raises(CnnError) as info:
        to_pytorch(net)
    assert "puts a module inside 'a', which is a layer" in str(info.value)
    assert info.value.location.line > 1  # the second layer, not the first


def test_block_parameters_are_named_after_the_arguments_they_feed():
    """Values that differ between instances become parameters named after the block's own
    parameter, else after the argument (PyTorch's name for a positional one, declared where
    the layer makes its call; a helper's from its own signature)."""
    net = network_of(
        {
            "input": [3, 8, 8],
            "blocks": {
                "unit": {"params": {"width": None}, "layers": [{"conv2d": {"out": "$width", "kernel": 1}, "name": "conv"}]},
                "separable": {"layers": [{"separable_conv2d": {"out": 4, "kernel": 3, "padding": 1}, "name": "sep"}]},
            },
            "layers": [{"unit": {"width": 4}}, {"unit": {"width": 8}}, "separable", "separable"],
        }
    )
    code = to_pytorch(net)
    assert "    def __init__(self, in_channels, width):\n" in code
    assert "        self.conv = nn.Conv2d(in_channels, width, kernel_size=1)\n" in code
    assert "        self.sep = SeparableConv(nn.Conv2d, in_channels, 4, kernel_size=3, padding=1)\n" in code
    assert code.count("class SeparableConv(nn.Module):") == 1
    check_export(net, code=code)


def test_a_member_is_never_named_after_an_nn_module_attribute():
    """The names export refuses for members are every attribute the installed PyTorch's
    modules have (a newer PyTorch with more would fail here first)."""
    own = {name for name in dir(torch.nn.Module()) if not (name.startswith("__") and name.endswith("__"))}
    assert own <= MODULE_ATTRIBUTES
    in_dict = {name for name in dir(torch.nn.ModuleDict()) if not (name.startswith("__") and name.endswith("__"))}
    assert in_dict <= MODULE_DICT_ATTRIBUTES


# -- Keras ------------------------------------------------------------------------------------

os.environ.setdefault("KERAS_BACKEND", "torch")


def build_keras(code: str):
    import keras  # noqa: F401 - the backend is chosen above

    namespace: dict = {"__name__": "exported"}
    exec(compile(code, "<exported>", "exec"), namespace)
    return namespace["build_model"]()


def check_keras_export(net, code: str | None = None):
    """Keras's count (running statistics included, as non-trainable weights: a Model holds
    the layers between its inputs and outputs, a shared one once), every output's shape,
    and each layer's own output shape (where the layer is called once). Returns the model."""
    summary = analyse(net)
    model = build_keras(code or to_keras(net))
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert trainable == summary.totals.keras_trainable_params
    assert model.count_params() == summary.totals.keras_trainable_params + summary.totals.keras_non_trainable_params
    outputs = value_shapes_of(net)
    assert [tuple(o.shape[1:]) for o in model.outputs] == [outputs[value] for value in net.outputs]
    assert [i.name for i in model.inputs] == list(net.inputs)
    called_again = {node.name for node in net.nodes if node.share} | {node.share for node in net.nodes if node.share}
    used = {row.name for row in summary.layers if row.on_output_path}
    for node in net.nodes:
        op = node.layer.keras(tuple(outputs[s] for s in node.inputs), outputs[node.name], net.layout)
        suffix = op.layers[-1][0]
        if node.name not in used or (not suffix and node.name in called_again):
            continue
        last = model.get_layer(keras_name(node.name) + suffix)
        shape = [tuple(o.shape[1:]) for o in last.output] if isinstance(last.output, list) else tuple(last.output.shape[1:])
        assert shape == (list(outputs[node.name]) if isinstance(shape, list) else outputs[node.name]), node.name
    return model


@pytest.mark.parametrize("path", YAML_EXAMPLES, ids=lambda p: p.name)
def test_every_example_exports_to_keras(path):
    check_keras_export(example(path), exported(path, "keras"))


@pytest.mark.parametrize("cls", all_types(), ids=lambda c: c.type_name)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_layer_type_exports_to_keras_or_says_why_not(cls, data):
    net = random_layer_network(cls, data)
    if net is None:
        return
    try:
        to_keras(net)
    except CnnError as exc:  # an honest refusal names the layer and where it is
        assert "Keras" in str(exc) and exc.location is not None and exc.location.line >= 1
        return
    check_keras_export(net)
