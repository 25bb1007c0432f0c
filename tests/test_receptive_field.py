"""Receptive fields (Araujo, Norris & Sim, Distill 2019): the formula against two
independent measurements, on random stacks: propagation through cnncalc's own NumPy
forward pass (rf --verify), and PyTorch's autograd (the non-zero region of one output
position's gradient, all weights positive)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.cli import main
from cnncalc.errors import CnnError
from cnncalc.forward.fieldcheck import measure
from helpers import summarise

ROOT = Path(__file__).resolve().parent.parent


@st.composite
def stack(draw, average_only=False):
    """A random 1-D chain: convs (dilation, padding, same), pools (ceil mode), transposed
    convs (output padding) and nearest upsampling."""
    layers, torch_layers, channels = [], [], 2
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "pool", "transposed", "upsample"]))
        if kind == "conv":
            k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
            p = draw(st.integers(0, 2))
            layers.append({"conv1d": {"out": 2, "kernel": k, "stride": s, "dilation": d, "padding": p}})
            torch_layers.append(nn.Conv1d(channels, 2, k, s, p, d))
        elif kind == "pool":
            k, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            p, ceil = draw(st.integers(0, k // 2)), draw(st.booleans())
            maximum = not average_only and draw(st.booleans())
            layers.append({"maxpool1d" if maximum else "avgpool1d": {"kernel": k, "stride": s, "padding": p, "ceil_mode": ceil}})
            torch_layers.append((nn.MaxPool1d if maximum else nn.AvgPool1d)(k, s, p, ceil_mode=ceil))
        elif kind == "transposed":
            k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
            p, extra = draw(st.integers(0, 1)), draw(st.integers(0, max(s, d) - 1))
            layers.append({"conv_transpose1d": {"out": 2, "kernel": k, "stride": s, "dilation": d, "padding": p, "output_padding": extra}})
            torch_layers.append(nn.ConvTranspose1d(channels, 2, k, s, p, extra, dilation=d))
        else:
            layers.append({"upsample": 2})
            torch_layers.append(nn.Upsample(scale_factor=2.0))
        channels = 2
    return layers, torch_layers


def network_of(layers, length):
    return {"input": [2, length], "layers": layers}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=stack(), length=st.integers(8, 80))
def test_formula_equals_propagation(case, length):
    layers, _ = case
    try:
        net = cnncalc.loads(yaml.safe_dump(network_of(layers, length)), format="yaml", path="case.yaml")
        summary = cnncalc.summary(net)
    except CnnError:
        event("rejected")
        return
    verdicts = measure(net, summary)
    assert verdicts and all(agrees for _, agrees in verdicts.values()), (layers, verdicts)
    final = verdicts[summary.layers[-1].name]
    field = summary.layers[-1].receptive_field
    if field is not None and final[0][0] is not None:
        # Interior fields are exact position by position; after a fractional stride their
        # sizes vary with the phase, so the largest seen is at most r.
        event("interior positions checked")
        assert final[0][0] <= field.size[0]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=stack(average_only=True), length=st.integers(8, 80), data=st.data())
def test_formula_equals_autograd(case, length, data):
    """Max pooling's gradient reaches only the argmax, so the pools here average."""
    layers, torch_layers = case
    try:
        net = cnncalc.loads(yaml.safe_dump(network_of(layers, length)), format="yaml", path="case.yaml")
        summary = cnncalc.summary(net)
    except CnnError:
        return
    model = nn.Sequential(*torch_layers).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.rand_like(parameter) + 0.5)  # all positive
    x = torch.rand(1, 2, length, dtype=torch.float64, requires_grad=True)
    y = model(x)
    assert y.shape[-1] == summary.layers[-1].output_shape[-1]
    o = data.draw(st.integers(0, y.shape[-1] - 1))
    y[0, :, o].sum().backward()
    reached = np.flatnonzero(x.grad[0].abs().sum(axis=0).numpy() > 0)
    field = summary.layers[-1].receptive_field
    # The field of output o is [S*o - P + phase, ...]: recompute it from the exact spans.
    from cnncalc.analysis import FieldTracker

    tracker = FieldTracker(net)
    shapes = {"input": net.input_shape, **{row.name: row.output_shape for row in summary.layers}}
    for node in net.nodes:
        ins = tuple(shapes[n] for n in node.inputs)
        tracker.step(node.name, node.inputs, ins, node.layer.infer(ins, net.layout), [])
    span = tracker.spans[net.nodes[-1].name][0]
    first, last = span.first.at(o), span.last.at(o)
    if first is None or max(first, 0) > min(last, length - 1):
        assert reached.size == 0
        return
    # Everywhere the gradient stays inside the formula's field (clipped to the input);
    # away from the borders, where no padding or left-over row can be involved, their ends
    # are equal (Araujo et al.'s field is that of the network without borders).
    if reached.size:
        assert reached[0] >= max(first, 0) and reached[-1] <= min(last, length - 1)
    left, right = -1, length
    for node, row in zip(net.nodes[:-1], summary.layers[:-1]):  # the layers before the last
        layer_span = tracker.spans[node.name][0]
        before, after = layer_span.last.at(-1), layer_span.first.at(row.output_shape[-1])
        left = left if before is None else max(left, before)
        right = right if after is None else min(right, after)
    if first > left and last < right:
        event("interior: exact")
        assert (reached[0], reached[-1]) == (first, last)
        assert last - first + 1 <= field.size[0]


def test_a_transposed_convs_field_counts_only_the_inputs_that_reach_it():
    """Kernel 3, stride 2: even outputs read two inputs, odd ones one; the field size is 2."""
    summary = summarise({"input": [1, 8], "layers": [{"conv_transpose1d": {"out": 1, "kernel": 3, "stride": 2}}]})
    field = summary.layers[0].receptive_field
    assert field.size == (2,) and float(field.stride[0]) == 0.5


def test_fields_on_a_residual_and_an_inception_graph():
    """Araujo et al.: on a multi-path graph the largest field over the paths."""
    rows = {r.name: r for r in summarise((ROOT / "examples" / "resnet18.yaml").read_text()).layers}
    add = rows["layer1.0.add_1"]
    paths = [rows[name].receptive_field.size[0] for name in add.inputs]  # two convs deep, or the shortcut
    assert add.receptive_field.size[0] == max(paths) > min(paths)
    inception = {r.name: r for r in summarise((ROOT / "examples" / "googlenet.yaml").read_text()).layers}
    branches = [inception[f"inception3a.{b}"].receptive_field.size[0] for b in ("branch1.relu_1", "branch2.1.relu_1", "branch3.1.relu_1", "branch4.1.relu_1")]
    assert inception["inception3a.concat_1"].receptive_field.size[0] == max(branches) > min(branches)


def test_rf_command_formats_and_verify():
    path = str(ROOT / "examples" / "lenet5.yaml")
    table = CliRunner().invoke(main, ["rf", path, "--verify"])
    assert table.exit_code == 0 and "From layer 'c5' on, every output position sees the whole input." in table.stdout
    data = json.loads(CliRunner().invoke(main, ["rf", path, "--verify", "--format", "json"]).stdout)
    assert data["verified"] and data["covers_input_from"] == "c5"
    c3 = next(layer for layer in data["layers"] if layer["name"] == "c3")
    assert c3["receptive_field"] == {"size": [14, 14], "stride": [2, 2], "padding": [0, 0], "center": [6.5, 6.5],
                                      "global_context": None}
    assert c3["measured"] == {"size": [14, 14], "agrees": True}
    assert "| `c3` | conv2d | (16, 10, 10) | 14 | 2 | 0 | 6.5 |" in CliRunner().invoke(main, ["rf", path, "--format", "markdown"]).stdout
    assert "c3,conv2d" in CliRunner().invoke(main, ["rf", path, "--format", "csv"]).stdout


def test_verify_reports_a_wrong_formula(monkeypatch):
    """--verify is independent: a deliberately wrong field rule is caught (exit 1)."""
    from cnncalc.layers.windows import Window

    original = Window.taps

    def shifted(window):
        taps = original(window)
        return type(taps)(taps.step, taps.period, lambda residue: range(taps.reads(residue)[0] + 1, taps.reads(residue)[-1] + 2))

    monkeypatch.setattr(Window, "taps", shifted)
    result = CliRunner().invoke(main, ["rf", str(ROOT / "examples" / "lenet5.yaml"), "--verify"])
    assert result.exit_code == 1 and "differ" in result.stdout


def test_verify_refuses_an_input_too_large_to_probe():
    """Found by fuzzing: NumPy's own error escaped for a huge input."""
    result = CliRunner().invoke(main, ["rf", str(ROOT / "examples" / "lenet5.yaml"), "--verify", "--input", "1x100000000x32"])
    assert result.exit_code == 2 and "verifying needs about" in result.stderr
