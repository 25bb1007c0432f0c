"""`cnncalc export` of the graph language (CONTRACT.md §8): several inputs, several outputs,
shared weights, split and chunk, in and out of blocks, and layers on no path to an output.

Each exported module is run, as in tests/test_export.py: PyTorch's state_dict keys and
shapes, its parameter count (dead layers included: PyTorch holds their modules) and, with
the same weights, every output (float64) against cnncalc's NumPy forward pass; Keras's
counts (a Model holds the layers between its inputs and outputs, a shared one once) and
every output's shape. A shared layer is one module or Keras layer, called at each use.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncalc.analysis import analyse
from cnncalc.errors import CnnError
from cnncalc.export import to_keras, to_pytorch
import test_export_safety as safety
from test_export import check_export, check_keras_export, network_of

os.environ.setdefault("KERAS_BACKEND", "torch")


def conv(out: int, source: str, name: str, **extra) -> dict:
    return {"conv2d": {"out": out, "kernel": 3, "padding": 1}, "from": source, "name": name, **extra}


def calls_of(model: torch.nn.Module, names) -> dict[str, int]:
    """How many times each named module runs in one forward pass (hooks count them)."""
    modules = dict(model.named_modules())
    counts = dict.fromkeys(names, 0)
    for name in names:
        modules[name].register_forward_hook(lambda m, i, o, name=name: counts.__setitem__(name, counts[name] + 1))
    return counts


def run_forward(model, net) -> None:
    with torch.no_grad():
        model(*(torch.zeros(2, *shape, dtype=torch.float64) for shape in net.inputs.values()))


# -- several inputs ------------------------------------------------------------------------------


def test_two_inputs_of_different_ranks():
    """An image and a vector: forward takes them in the order written, and the Keras model
    has one named keras.Input per input, in that order."""
    net = network_of(
        {
            "inputs": {"image": [3, 12, 12], "meta": [5]},
            "layers": [
                conv(4, "image", "stem"),
                {"global_avgpool": None, "name": "pool"},
                {"linear": 4, "from": "meta", "name": "embed"},
                {"concat": ["pool", "embed"], "name": "both"},
                {"linear": 2, "name": "head"},
            ],
        }
    )
    code = to_pytorch(net)
    assert "    def forward(self, image, meta):\n" in code
    assert 'INPUT_SHAPE = {\n    "image": (1, 3, 12, 12),\n    "meta": (1, 5),\n}\n' in code
    check_export(net)
    keras_code = to_keras(net)
    assert '    image = keras.Input(shape=(3, 12, 12), name="image")\n' in keras_code
    assert "keras.Model(inputs=[image, meta], outputs=[x], " in keras_code
    check_keras_export(net, keras_code)


def test_input_names_become_safe_parameter_names():
    """Input names that are Python's own words, or no identifiers at all, become safe
    parameter and variable names (Namespace's rules); Keras keeps them as written."""
    net = network_of(
        {
            "inputs": {"self": [2, 6, 6], "class": [2, 6, 6], "my image": [2, 6, 6]},
            "layers": [{"add": ["self", "class", "my image"], "name": "sum"}, conv(3, "sum", "conv")],
        }
    )
    code = to_pytorch(net)
    assert "    def forward(self, self_, class_, my_image):\n" in code
    check_export(net)
    keras_code = to_keras(net)
    assert 'keras.Input(shape=(2, 6, 6), name="my image")' in keras_code
    check_keras_export(net, keras_code)


def test_the_demo_runs_a_network_of_several_inputs_and_outputs():
    net = network_of(
        {
            "inputs": {"a": [2, 6, 6], "b": [2, 6, 6]},
            "outputs": ["left", "right"],
            "layers": [conv(3, "a", "left"), conv(3, "b", "right")],
        }
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(to_pytorch(net), "<exported>", "exec"), {"__name__": "__main__"})
    assert printed.getvalue() == "[torch.Size([1, 3, 6, 6]), torch.Size([1, 3, 6, 6])]\n"


# -- several outputs -----------------------------------------------------------------------------

FPN = {
    "name": "fpn-like",
    "input": [3, 32, 32],
    "outputs": ["p3", "c4.relu", "p5"],  # one of them made inside a block instance, not its result
    "blocks": {
        "stage": {
            "params": {"out": None},
            "layers": [
                {"conv2d": {"out": "$out", "kernel": 3, "stride": 2, "padding": 1}, "name": "conv"},
                {"relu": None, "name": "relu"},
                {"conv2d": {"out": "$out", "kernel": 1}, "name": "extra"},
            ],
        }
    },
    "layers": [
        {"stage": {"out": 4}, "name": "c3"},
        {"stage": {"out": 8}, "name": "c4", "from": "c3.relu"},
        {"stage": {"out": 8}, "name": "c5", "from": "c4.relu"},
        {"conv2d": {"out": 4, "kernel": 1}, "from": "c5.relu", "name": "lateral5"},
        {"upsample": {"scale": 2}, "name": "up5"},
        {"conv2d": {"out": 4, "kernel": 1}, "from": "c4.relu", "name": "lateral4"},
        {"add": ["lateral4", "up5"], "name": "merge4"},
        {"upsample": {"scale": 2}, "name": "up4"},
        {"add": ["c3.relu", "up4"], "name": "p3"},
        {"conv2d": {"out": 4, "kernel": 3, "padding": 1}, "from": "lateral5", "name": "p5"},
    ],
}


def test_an_fpn_returns_its_three_outputs_in_order():
    """Three outputs, one from inside a block instance; each instance's `extra` conv is on no
    path to an output: PyTorch holds and runs it, the Keras model leaves it out."""
    net = network_of(FPN)
    summary = analyse(net)
    assert summary.totals.params > summary.totals.keras_trainable_params + summary.totals.keras_non_trainable_params
    code = to_pytorch(net)
    assert "forward returns a tuple of the outputs p3, c4.relu, p5." in code
    assert code.count("class Stage(nn.Module):") == 1
    model = check_export(net)
    assert {f"c{i}.extra" for i in (3, 4, 5)} <= set(dict(model.named_modules()))
    keras_code = to_keras(net)
    assert "outputs=[" in keras_code
    check_keras_export(net, keras_code)


# -- shared weights ------------------------------------------------------------------------------


def siamese(**changes) -> dict:
    document = {
        "inputs": {"left": [3, 10, 10], "right": [3, 10, 10]},
        "layers": [
            conv(6, "left", "a"),
            conv(6, "right", "b", share="a"),
            {"batchnorm": None, "from": "a", "name": "bn"},
            {"batchnorm": None, "from": "b", "name": "bn_b", "share": "bn"},
            {"add": ["bn", "bn_b"], "name": "join"},
        ],
    }
    document.update(changes)
    return document


def test_a_shared_conv_is_one_module_called_twice():
    net = network_of(siamese())
    code = to_pytorch(net)
    assert "self.b =" not in code and "self.bn_b" not in code
    assert "        x = self.a(left)\n        out = self.a(right)\n" in code
    model = check_export(net)
    assert set(model.state_dict()) == {"a.weight", "a.bias", *(f"bn.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"))}
    counts = calls_of(model, ["a", "bn"])
    run_forward(model, net)
    assert counts == {"a": 2, "bn": 2}


def test_a_shared_keras_layer_is_one_object_called_twice():
    net = network_of(siamese())
    code = to_keras(net)
    assert '    a = layers.Conv2D(6, 3, padding="same", data_format="channels_first", name="a")\n' in code
    assert "    x = a(left)\n" in code and "a(right)" in code
    model = check_keras_export(net, code)
    assert [layer.name for layer in model.layers].count("a") == 1
    assert len(model.get_layer("a")._inbound_nodes) == 2


def test_a_frozen_owner_freezes_its_sharers_in_both_frameworks():
    document = siamese()
    document["layers"][0]["trainable"] = False
    net = network_of(document)
    assert analyse(net).totals.trainable_params == 2 * 6  # the BatchNorm's scale and shift
    check_export(net)
    check_keras_export(net)


SHARED_ACROSS_BLOCKS = {
    "inputs": {"left": [4, 8, 8], "right": [4, 8, 8]},
    "outputs": ["tail", "late"],
    "blocks": {
        "tower": {"layers": [conv(4, "input", "conv"), {"relu": None, "name": "act"}]},
        "twin": {"layers": [conv(4, "input", "conv", share="first.conv"), {"relu": None, "name": "act"}, conv(4, "act", "top_again", share="top")]},
    },
    "layers": [
        conv(4, "right", "top"),  # shared by a layer inside the twin block
        {"tower": None, "from": "left", "name": "first"},
        {"twin": None, "from": "right", "name": "second"},
        conv(4, "second.top_again", "late", share="first.conv"),  # shares a layer inside a block
        {"add": ["first.act", "second.act", "top"], "name": "tail"},
    ],
}


def test_a_layer_shares_across_block_instances():
    """A block instance is handed the modules of the layers outside it that its layers
    share; from above, a module inside an instance is reached through it."""
    net = network_of(SHARED_ACROSS_BLOCKS)
    code = to_pytorch(net)
    assert "    def forward(self, x, conv, top):\n" in code  # the twin's class
    assert "self.late" not in code and "self.first.conv(" in code
    model = check_export(net)
    counts = calls_of(model, ["first.conv", "top"])
    run_forward(model, net)
    assert counts == {"first.conv": 3, "top": 2}
    check_keras_export(net)


def test_a_sharer_inside_a_numbered_chain():
    net = network_of(
        {
            "input": [4, 6, 6],
            "layers": [conv(4, "input", "f.0"), conv(4, "f.0", "f.1", share="f.0"), conv(4, "f.1", "f.2")],
        }
    )
    model = check_export(net)
    assert set(model.state_dict()) == {"f.0.weight", "f.0.bias", "f.2.weight", "f.2.bias"}
    check_keras_export(net)


def test_repeated_instances_are_handed_the_module_they_share():
    """Instances handed a module are no nn.Sequential (which passes one value along); a
    layer sharing a layer inside a chain calls it by its index."""
    net = network_of(
        {
            "input": [4, 6, 6],
            "blocks": {"unit": {"layers": [conv(4, "input", "conv", share="stem"), {"relu": None, "name": "act"}]}},
            "layers": [
                conv(4, "input", "stem"),
                {"unit": None, "repeat": 3, "name": "stack"},
                conv(4, "stack", "f.0"),
                conv(4, "f.0", "f.1"),
                conv(4, "f.1", "again", share="f.0"),
            ],
        }
    )
    code = to_pytorch(net)
    assert "self.stack = nn.ModuleList(" in code and "        x = self.stack[1](x, self.stem)\n" in code
    assert "        x = self.f(x)\n        x = self.f[0](x)\n" in code
    model = check_export(net)
    counts = calls_of(model, ["stem", "f.0"])
    run_forward(model, net)
    assert counts == {"stem": 4, "f.0": 2}
    check_keras_export(net)


def test_a_dead_owner_still_serves_its_sharer():
    """The owner is on no path to an output, its sharer is: Keras keeps the layer, once."""
    net = network_of(
        {
            "inputs": {"a": [2, 6, 6], "b": [2, 6, 6]},
            "outputs": ["used"],
            "layers": [conv(3, "a", "owner"), conv(3, "b", "used", share="owner"), conv(5, "b", "dead")],
        }
    )
    summary = analyse(net)
    assert summary.totals.keras_trainable_params == 3 * 2 * 9 + 3
    model = check_export(net)
    assert "dead" in dict(model.named_modules())
    check_keras_export(net)


@pytest.mark.parametrize("framework", ["pytorch", "keras"])
def test_a_sharer_that_needs_another_module_is_refused_where_it_is(framework):
    """TensorFlow's 'same' with stride 2 pads 8 by (0, 1) and 9 by (1, 1): PyTorch would
    need two convolutions. Explicit padding 1 is Keras's 'same' on 9, not on 8: Keras would."""
    padding = "same" if framework == "pytorch" else 1
    document = {
        "inputs": {"small": [3, 8, 8], "large": [3, 9, 9]},
        "outputs": ["a", "b"],
        "layers": [
            {"conv2d": {"out": 4, "kernel": 3, "stride": 2, "padding": padding}, "from": "small", "name": "a"},
            {"conv2d": {"out": 4, "kernel": 3, "stride": 2, "padding": padding}, "from": "large", "name": "b", "share": "a"},
        ],
    }
    net = network_of(document)
    with pytest.raises(CnnError) as info:
        (to_pytorch if framework == "pytorch" else to_keras)(net)
    assert "shares the weights of 'a', but on its input (3, 9, 9) it needs another" in str(info.value)
    assert info.value.location.line == net.nodes[1].layer.where.layer.line
    other = to_keras if framework == "pytorch" else to_pytorch
    other(net)  # the other framework can share it


# -- split and chunk -----------------------------------------------------------------------------


def test_split_parts_are_read_by_different_layers():
    net = network_of(
        {
            "input": [6, 8, 8],
            "outputs": ["s.2", "mix"],
            "layers": [
                {"split": [2, 3, 1], "name": "s"},
                conv(2, "s.1", "branch"),
                {"add": ["s.0", "branch"], "name": "mix"},
            ],
        }
    )
    code = to_pytorch(net)
    assert "        s_0, s_1, s_2 = torch.split(x, [2, 3, 1], dim=1)\n" in code
    assert "        return s_2, x\n" in code
    check_export(net)
    keras_code = to_keras(net)
    assert '    s_0, s_1, s_2 = SplitLayer([2, 5], axis=1, name="s")(inputs)\n' in keras_code
    check_keras_export(net, keras_code)


SPLIT_BLOCKS = {
    "input": [8, 6, 6],
    "outputs": ["out", "inner.c.1"],
    "blocks": {
        "half": {  # a chunk whose parts leave the instance, and a part that comes in
            "layers": [
                {"chunk": 2, "name": "c", "from": "input"},
                conv(4, "c.0", "conv"),
                {"add": ["conv", "outer.1"], "name": "merged"},
            ]
        },
    },
    "layers": [
        {"split": [4, 4], "name": "outer"},
        {"half": None, "from": "outer.0", "name": "inner"},
        {"concat": ["inner.c.0", "inner.merged"], "name": "out"},
    ],
}


def test_chunk_parts_cross_block_instances_both_ways():
    net = network_of(SPLIT_BLOCKS)
    code = to_pytorch(net)
    assert "        c_0, c_1 = torch.chunk(x, 2, dim=1)\n" in code
    check_export(net)
    check_keras_export(net)


def test_split_in_channels_last_and_along_another_axis():
    net = network_of(
        {
            "layout": "channels_last",
            "input": [6, 4, 6],
            "outputs": ["s.0", "t.1", "u"],
            "layers": [
                {"split": [2, 4], "name": "s"},  # the channels: the last axis
                {"chunk": {"chunks": 3, "axis": 1}, "name": "t", "from": "input"},
                conv(5, "s.1", "u"),
            ],
        }
    )
    check_export(net)
    check_keras_export(net)


# -- random graphs -------------------------------------------------------------------------------


@st.composite
def graphs(draw):
    """A random network of several inputs, layers that read any earlier value (convs,
    BatchNorms, ReLUs, adds, concats, splits and chunks of the channels), some of them in
    block instances that read values from outside and are read from outside, layers that
    share an earlier one's weights (across instances too), some frozen, and outputs drawn
    among the values. Every map is 5x5, so shapes only differ in channels."""
    size = 5
    inputs = {f"in{i}": draw(st.sampled_from([2, 4])) for i in range(draw(st.integers(1, 3)))}
    values = dict(inputs)  # value as the top level reads it -> channels
    made: list[str] = []  # values of layers
    shareable: list[tuple[str, str, tuple]] = []  # (name as the top level reads it, type, key)
    layers, blocks = [], {}

    def layer(values_here: dict, name: str, prefix: str, local: dict, share_from: list) -> dict:
        """One layer reading `values_here`; its values go into `local` (names as read here)."""
        kind = draw(st.sampled_from(["conv", "conv", "batchnorm", "relu", "add", "concat", "split", "chunk"]))
        source = draw(st.sampled_from(sorted(values_here)))
        channels = values_here[source]
        entry: dict = {"name": name, "from": source}
        if kind in ("conv", "batchnorm"):
            out = draw(st.sampled_from([2, 4])) if kind == "conv" else channels
            key = (kind, channels, out)
            entry |= {"conv2d": {"out": out, "kernel": 3, "padding": 1}} if kind == "conv" else {"batchnorm": None}
            owners = [owner for owner, owner_kind, owner_key in share_from if owner_key == key]
            if owners and draw(st.integers(0, 3)):
                entry["share"] = draw(st.sampled_from(owners))
            elif draw(st.integers(0, 4)) == 0:
                entry["trainable"] = False
            local[name] = out
            shareable.append((prefix + name, kind, key))
        elif kind in ("add", "concat"):
            others = [v for v in sorted(values_here) if kind == "concat" or values_here[v] == channels]
            second = draw(st.sampled_from(others))
            entry = {kind: [source, second], "name": name}
            local[name] = channels if kind == "add" else channels + values_here[second]
        elif kind == "relu":
            entry["relu"] = None
            local[name] = channels
        elif kind == "split" and channels >= 2:
            first = draw(st.integers(1, channels - 1))
            entry["split"] = [first, channels - first]
            local.update({f"{name}.0": first, f"{name}.1": channels - first})
        elif kind == "chunk" and channels % 2 == 0:
            entry["chunk"] = 2
            local.update({f"{name}.0": channels // 2, f"{name}.1": channels // 2})
        else:
            entry["relu"] = None
            local[name] = channels
        return entry

    for index in range(draw(st.integers(2, 7))):
        if draw(st.integers(0, 3)) == 0:  # a block instance of 1 to 3 layers
            block, instance = f"block{index}", f"g{index}"
            local: dict = {}
            entries = []
            for inner in range(draw(st.integers(1, 3))):
                outside = {v: c for v, c in values.items()}
                seen = {**outside, **local}
                owners = [(owner if not owner.startswith(instance + ".") else owner[len(instance) + 1 :], kind, key) for owner, kind, key in shareable]
                entries.append(layer(seen, f"l{inner}", instance + ".", local, owners))
            blocks[block] = {"layers": entries}
            layers.append({block: None, "name": instance, "from": draw(st.sampled_from(sorted(values)))})
            for value, channels in local.items():
                values[f"{instance}.{value}"] = channels
                made.append(f"{instance}.{value}")
        else:
            local = {}
            layers.append(layer(values, f"t{index}", "", local, shareable))
            values.update(local)
            made.extend(local)
    document = {"inputs": {name: [c, size, size] for name, c in inputs.items()}, "layers": layers}
    if blocks:
        document["blocks"] = blocks
    if draw(st.booleans()):
        document["outputs"] = draw(st.lists(st.sampled_from(made), min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):
        document["layout"] = "channels_last"
        document["inputs"] = {name: [size, size, c] for name, c in inputs.items()}
    return document


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=graphs())
def test_random_graphs_export_to_pytorch(document):
    check_export(network_of(document))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=graphs())
def test_random_graphs_export_to_keras(document):
    check_keras_export(network_of(document))


# -- input and output names from the file ----------------------------------------------------------

GRAPH_GUARDS = {  # the demos of a network with several inputs or outputs (besides test_export_safety's)
    ast.unparse(ast.parse(guard))
    for guard in (
        'if __name__ == "__main__":\n    net = Net().eval()\n    print(net(*map(torch.randn, INPUT_SHAPE.values())).shape)',
        'if __name__ == "__main__":\n    net = Net().eval()\n'
        "    print([output.shape for output in net(*map(torch.randn, INPUT_SHAPE.values()))])",
        'if __name__ == "__main__":\n    net = Net().eval()\n    print([output.shape for output in net(torch.randn(INPUT_SHAPE))])',
    )
}
INPUT_NAMES = [name for name in [*safety.NASTY, *safety.PYTHON_NAMES, "SplitLayer"] if "." not in name and not name.startswith("$")]


@pytest.mark.parametrize("name", INPUT_NAMES, ids=lambda name: name.encode("unicode_escape").decode()[:24])
def test_an_input_name_stays_a_name(name, monkeypatch):
    """An input's name is a string in both modules (INPUT_SHAPE's key, keras.Input's name,
    the docstrings) and a safe parameter name; the modules define things and do nothing
    else at import (tests/test_export_safety.py's check, with these modules' demos)."""
    monkeypatch.setattr(safety, "MAIN_GUARDS", safety.MAIN_GUARDS | GRAPH_GUARDS)
    other = "other" if name != "other" else "second"
    net = network_of(
        {
            "inputs": {name: [4, 5, 5], other: [4, 5, 5]},
            "outputs": ["s.1", "sum"],
            "layers": [{"split": [2, 2], "from": name, "name": "s"}, conv(2, other, "c"), {"add": ["s.0", "c"], "name": "sum"}],
        }
    )
    code = to_pytorch(net)
    assert safety.import_time_problems(code) == []
    tree = ast.parse(code)
    shapes = next(node.value for node in tree.body if isinstance(node, ast.Assign) and node.targets[0].id == "INPUT_SHAPE")
    assert list(ast.literal_eval(shapes)) == [name, other]
    net_class = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Net")
    assert ast.get_docstring(net_class, clean=False).startswith(f"network, built for inputs {name} (1, 4, 5, 5), {other} ")
    check_export(net, code=code)
    keras_code = to_keras(net)
    assert safety.import_time_problems(keras_code) == []
    inputs = [
        ast.literal_eval(keyword.value)
        for node in ast.walk(ast.parse(keras_code))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "keras.Input"
        for keyword in node.keywords
        if keyword.arg == "name"
    ]
    assert inputs == [name, other]
    check_keras_export(net, keras_code)
