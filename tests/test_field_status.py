"""Issue 16: an undefined receptive field told apart from a global one, the local field
through a squeeze-excitation gate's main path, and warnings that say exactly which input
positions go unread, per axis, by kind, silenceable.

The claims are checked against something real: PyTorch's autograd (which input positions
an output's gradient reaches, which input rows a convolution's gradient never touches) and
`rf --verify`'s NumPy forward probe, never against figures typed in from cnncalc's own
formulas.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.cli import main
from cnncalc.errors import WarningKind, kind_of
from cnncalc.layers.windows import Window

ROOT = Path(__file__).resolve().parent.parent

# A squeeze-excitation gate on a small map, then a reshape that only changes the channels
# (positions kept), then one that mixes axes (positions rearranged).
SE = ("input 3x32x32 | c1: conv2d 8 k=3 s=2 p=1 | c2: conv2d 8 k=3 p=1 | pool: global_avgpool keepdims=true"
      " | fc: conv2d 8 k=1 | gate: sigmoid | scaled: multiply (c2,gate) | c3: conv2d 8 k=3 p=1"
      " | same: reshape 8x16x16 | mixed: reshape 16x8x16 | c4: conv2d 4 k=3")


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def r_cells(text: str) -> dict[str, str]:
    """The r column of an rf table, by layer name (the cell after the output shape)."""
    return {line.split()[0]: line.split(")")[1].split()[0] for line in text.splitlines()[2:] if line.count(")") == 1}


def rows(text: str, **options):
    return {row.name: row for row in cnncalc.summary(cnncalc.loads(text, format="dsl"), **options).layers}


# -- undefined is not global -------------------------------------------------------------------


def test_flatten_then_linear_is_global_and_a_reshape_that_mixes_axes_is_undefined():
    mixed = rows("input 1x8x8 | conv2d 2 k=3 | flatten | reshape 2x6x6 | conv2d 2 k=3")
    assert [r.field_status for r in mixed.values()] == ["local", "global", "undefined", "undefined"]
    assert "'flatten_1' joins every position into one vector" in mixed["flatten_1"].field_note
    assert mixed["reshape_1"].field_note.startswith("'reshape_1' lays a flattened vector out again ((72,) to (2, 6, 6))")
    assert mixed["conv2d_2"].field_note == mixed["reshape_1"].field_note  # the reason names where it began
    # after a linear layer every feature sees everything, so a map made of them does too
    mixing = rows("input 1x8x8 | conv2d 2 k=3 | flatten | linear 72 | reshape 2x6x6 | conv2d 2 k=3")
    assert [r.field_status for r in mixing.values()] == ["local", "global", "global", "global", "global"]
    assert mixing["conv2d_2"].field_note == "'linear_1' mixes every position"


def test_undefined_and_global_are_told_apart_in_every_format():
    text = "input 1x8x8 | conv2d 2 k=3 | reshape 2x3x12 | conv2d 2 k=1 | global_avgpool | linear 3"
    table = invoke("rf", "-e", text)
    assert r_cells(table.stdout) == {"conv2d_1": "3", "reshape_1": "undefined", "conv2d_2": "undefined",
                     "global_avgpool_1": "global", "linear_1": "global"}
    # the global pool mixes every position, whatever the reshape did to them; undefined covers nothing
    assert "From layer 'global_avgpool_1' on, every output position sees the whole input." in table.stdout
    assert "No layer's field covers the whole input." in invoke("rf", "-e", "input 1x8x8 | conv2d 2 k=3 | reshape 2x3x12").stdout
    assert "the receptive field is undefined from this layer on: 'reshape_1' moves values between positions" in table.stderr
    data = json.loads(invoke("summary", "-e", text, "--format", "json").stdout)
    status = [(layer["receptive_field"], layer["receptive_field_status"]) for layer in data["layers"]]
    assert [s for _, s in status] == ["local", "undefined", "undefined", "global", "global"]
    assert all(field is None for field, s in status if s != "local")
    assert "((2, 6, 6) to (2, 3, 12))" in data["layers"][1]["receptive_field_note"]
    rf = json.loads(invoke("rf", "-e", text, "--format", "json").stdout)
    assert rf["covers_input_from"] == "global_avgpool_1" and rf["layers"][1]["covers_input"] is None and [layer["receptive_field_status"] for layer in rf["layers"]] == [s for _, s in status]
    csv = invoke("summary", "-e", text, "--format", "csv").stdout.splitlines()
    header = csv[0].split(",")
    assert [line.split(",")[header.index("rf_size")] for line in csv[1:6]] == ["3", "undefined", "undefined", "global", "global"]
    markdown = invoke("rf", "-e", text, "--format", "markdown").stdout
    assert "| `reshape_1` | reshape | (2, 3, 12) | undefined |" in markdown


# -- the local field through a squeeze-excitation gate ---------------------------------------


class TorchSE(torch.nn.Module):
    """SE above, in PyTorch; `frozen` detaches the gate (a constant for autograd)."""

    def __init__(self, frozen: bool):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.Conv2d(8, 8, 3, 1, 1)
        self.fc, self.c3 = torch.nn.Conv2d(8, 8, 1), torch.nn.Conv2d(8, 8, 3, 1, 1)
        self.frozen = frozen
        for p in self.parameters():  # positive weights: no gradient cancels by chance
            torch.nn.init.uniform_(p, 0.1, 1.0)
        for p in self.fc.parameters():  # and a gate short of saturation, whose gradient is not 0
            torch.nn.init.uniform_(p, 1e-4, 2e-4)

    def forward(self, x):
        c2 = self.c2(self.c1(x))
        gate = torch.sigmoid(self.fc(c2.mean((2, 3), keepdim=True)))
        return self.c3(c2 * (gate.detach() if self.frozen else gate))


def reached(model: torch.nn.Module, o: int) -> tuple[int, int] | None:
    """The first and last input rows the gradient of output position (o, o) reaches."""
    x = torch.ones(1, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    model.double()(x)[0, :, o, o].sum().backward()
    hit = x.grad.abs().sum((0, 1, 3)).nonzero().flatten().tolist()
    return (hit[0], hit[-1]) if hit else None


def test_the_se_local_field_is_pytorchs_with_the_gate_frozen_and_the_true_dependence_is_global():
    found = rows(SE)
    field = found["c3"].receptive_field
    assert field.context == "gate" and found["scaled"].receptive_field.context == "gate"
    assert found["c3"].field_status == "local" and "global context also arrives through 'gate'" in found["c3"].field_note
    o = 8  # an interior output position: its field lies clear of the borders
    first = int(field.center[0] + field.stride[0] * o - (field.size[0] - 1) / 2)
    assert reached(TorchSE(frozen=True), o) == (first, first + field.size[0] - 1)
    assert reached(TorchSE(frozen=False), o) == (0, 31)  # through the gate: the whole input, hence "+g"


def test_rf_verify_holds_the_gates_and_agrees_and_the_table_marks_them():
    result = invoke("rf", "-e", SE, "--verify")
    assert result.exit_code == 0, result.output
    cells = r_cells(result.stdout)
    assert cells["scaled"] == "7+g" and cells["c3"] == "11+g" and cells["same"] == "11+g"
    assert cells["mixed"] == "undefined" and cells["fc"] == "global"
    assert "+g: the field through the main path; a gate seeing the whole input" in result.stdout
    assert "first 'gate' at 'scaled'" in result.stdout
    assert "all agree with the formula; gates held at their values for the zero input" in result.stdout
    data = json.loads(invoke("rf", "-e", SE, "--verify", "--format", "json").stdout)
    c3 = next(layer for layer in data["layers"] if layer["name"] == "c3")
    assert data["verified"] and c3["receptive_field"]["global_context"] == "gate" and c3["measured"]["size"] == [11, 11]


def test_efficientnet_keeps_its_main_path_field_after_every_gate():
    layers = {row.name: row for row in cnncalc.summary(cnncalc.load(ROOT / "examples" / "efficientnet-b0.yaml")).layers}
    after = layers["features.1.0.block.2.0"].receptive_field  # the 1x1 projection after the first gate
    before = layers["features.1.0.silu_1"].receptive_field
    assert (after.size, after.stride, after.context) == (before.size, before.stride, "features.1.0.block.1.scale_activation")
    assert layers["features.1.0.block.1.avgpool"].field_status == "global"
    assert layers["classifier.1"].field_status == "global"


# -- warnings: exactly what goes unread, per axis ----------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(4, 20), k=st.integers(1, 4), s=st.integers(1, 4), d=st.integers(1, 3), p=st.integers(0, 2))
def test_unread_positions_are_those_a_torch_convolutions_gradient_never_reaches(n, k, s, d, p):
    window = Window(k, s, d, p, p)
    if window.output_size(n) < 1:
        return
    x = torch.ones(1, 1, n, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv1d(x, torch.ones(1, 1, k, dtype=torch.float64), stride=s, padding=p, dilation=d).sum().backward()
    never = [i for i in range(n) if x.grad[0, 0, i] == 0]
    unread = window.unread(n)
    assert unread.total == len(never)
    assert set(unread.first + unread.last) <= set(never)
    if unread.only_a_tail:  # "the last r of its n input positions"
        assert never == list(range(n - len(never), n))


def warnings_of(text: str) -> list[str]:
    return list(cnncalc.summary(cnncalc.loads(text, format="dsl")).warnings)


def test_a_1x1_stride_2_projection_says_every_other_row_and_column_is_skipped():
    said = warnings_of("input 4x8x7 | proj: conv2d 8 k=1 s=2")
    assert said == [
        "proj: along H stride 2 skips 1 of every 2 input rows (kernel 1), so 4 of its 8 rows are never read",
        "proj: along W stride 2 skips 1 of every 2 input columns (kernel 1), so 3 of its 7 columns are never read",
    ]
    assert {kind_of(w) for w in said} == {WarningKind.STRIDE_SKIP}
    # PyTorch: the input rows and columns the gradient never reaches are exactly those
    x = torch.ones(1, 4, 8, 7, requires_grad=True)
    torch.nn.Conv2d(4, 8, 1, 2)(x).sum().backward()
    assert (x.grad[0, 0].abs().sum(1) == 0).sum() == 4 and (x.grad[0, 0].abs().sum(0) == 0).sum() == 3


def test_leftovers_name_the_axis_noun_and_3d_and_1d_axes_too():
    said = warnings_of("input 1x9x9 | p: maxpool2d 2")
    assert said[0].startswith("p: along H the last 1 of its 9 input rows is never reached by a window")
    assert said[1].startswith("p: along W the last 1 of its 9 input columns is never reached by a window")
    assert {kind_of(w) for w in said} == {WarningKind.UNREACHED}
    assert warnings_of("input 1x5x4x4 | p: maxpool3d 2")[0].startswith("p: along D the last 1 of its 5 input planes")
    assert warnings_of("input 1x7 | c: conv1d 4 k=2 d=3 s=2") == [
        "c: along L input positions 1, 4 and 6 (counting from 0) of its 7 are never read (no window's taps fall on them)"]


# -- silencing ---------------------------------------------------------------------------------


def test_every_example_warning_has_a_kind():
    """The examples that warn, between them, of every kind summary gives (the goldens hold their text)."""
    kinds = set()
    for name in ("resnet18.yaml", "keras-mnist.yaml", "convnext-tiny.yaml", "siamese.yaml"):
        for warning in cnncalc.summary(cnncalc.load(ROOT / "examples" / name)).warnings:
            assert kind_of(warning) is not WarningKind.OTHER, (name, warning)
            kinds.add(kind_of(warning))
    assert kinds >= {WarningKind.LEFT_OUT, WarningKind.STRIDE_SKIP, WarningKind.UNREACHED, WarningKind.FIELD}


def test_quiet_and_no_warn_silence_warnings_in_every_command():
    text = "input 1x9x9 | a: conv2d 2 k=1 s=2 | b: maxpool2d 2"
    loud = invoke("summary", "-e", text)
    assert "[stride-skip]" in loud.stderr and "[unreached]" in loud.stderr
    assert invoke("summary", "-e", text, "--quiet").stderr == ""
    only = invoke("summary", "-e", text, "--no-warn", "stride-skip", "--format", "json")
    assert [w.split(":")[0] for w in json.loads(only.stdout)["warnings"]] == ["b", "b"]
    both = invoke("rf", "-e", text, "--no-warn", "stride-skip", "--no-warn", "unreached", "--format", "markdown")
    assert "warning" not in both.stdout and both.exit_code == 0
    assert "warning" not in invoke("size", "9", "-k", "1", "-s", "2", "-q").stderr
    strict = invoke("size", "10", "-k", "3", "-s", "2", "--strict", "--no-warn", "unreached")
    assert strict.exit_code == 0 and strict.stderr == ""  # --strict sees only what is not silenced
    assert invoke("size", "10", "-k", "3", "-s", "2", "--strict").exit_code == 2
    ran = invoke("run", "-e", text, "--quiet", "--format", "json")
    assert ran.exit_code == 0 and json.loads(ran.stdout)["warnings"] == []
    bad = invoke("summary", "-e", text, "--no-warn", "stride")
    assert bad.exit_code == 2 and "'stride-skip'" in bad.stderr


def test_the_readme_documents_every_warning_kind_and_its_se_example_is_real(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    for kind in WarningKind:
        if kind is not WarningKind.OTHER:
            assert f"`{kind.value}`" in readme, kind
    shown = re.search(r"```text\n(network: receptive fields.*?)```", readme, re.DOTALL)[1]
    assert f'cnncalc rf -e "{SE}" --verify' in readme
    assert [line.rstrip() for line in shown.strip().splitlines()] == [
        line.rstrip() for line in invoke("rf", "-e", SE, "--verify").stdout.strip().splitlines()]
    warned = re.search(r"```text\n(warning: in block 'basic'.*?)```", readme, re.DOTALL)[1].strip().splitlines()
    said = invoke("summary", str(ROOT / "examples" / "resnet18.yaml"), "--input", "3x64x64").stderr.splitlines()
    assert said[: len(warned)] == warned
    assert invoke("summary", str(ROOT / "examples" / "resnet18.yaml"), "--input", "3x64x64",
                  "--no-warn", "left-out", "--no-warn", "stride-skip").stderr == ""
