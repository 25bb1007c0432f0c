"""Homework mode: `size` against PyTorch and Keras and the course's examples, the working
word for word (golden files), `solve` complete and simplest first, `check` and `--explain`."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.cli import main
from cnncalc.errors import CnnError
from cnncalc.analysis.homework import Ranges, conv_size, solve, transposed
from helpers import expected_text

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "homework"
HOMEWORK = ROOT / "examples" / "homework"


def invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def torch_length(module, n):
    try:
        with torch.no_grad():
            size = module(torch.zeros(1, 1, n)).shape[-1]
        return size if size > 0 else None
    except RuntimeError:
        return None


def ours(function, *args, **kwargs):
    try:
        return function(*args, **kwargs).output
    except CnnError:
        return None


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 4), d=st.integers(1, 3))
def test_conv_size_equals_pytorch(n, k, s, p, d):
    assert ours(conv_size, n, k, s, p, d) == torch_length(nn.Conv1d(1, 1, k, s, p, d), n)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3), ceil=st.booleans())
def test_pool_size_equals_pytorch(n, k, s, p, ceil):
    if p > k // 2:
        return
    assert ours(conv_size, n, k, s, p, pool=True, ceil=ceil) == torch_length(nn.MaxPool1d(k, s, p, ceil_mode=ceil), n)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 20), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 3), data=st.data())
def test_transposed_size_equals_pytorch(n, k, s, p, d, data):
    extra = data.draw(st.integers(0, max(s, d) - 1))
    assert ours(transposed, n, k, s, p, d, extra) == torch_length(nn.ConvTranspose1d(1, 1, k, s, p, extra, dilation=d), n)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), padding=st.sampled_from(["same", "valid"]))
def test_tensorflow_padding_equals_keras(n, k, s, padding):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    try:
        expected = keras.layers.Conv1D(1, k, strides=s, padding=padding).compute_output_shape((1, n, 1))[1]
    except ValueError:
        expected = None
    assert ours(conv_size, n, k, s, padding) == expected


# REFERENCE.md, "Worked examples from the course material": (in, kernel, padding, stride) -> out.
@pytest.mark.parametrize("args,expected", [
    (("28", "-k", "3"), "26"), (("28", "-k", "3", "-p", "1"), "28"), (("28", "-k", "3", "-s", "2"), "13"),
    (("224", "-k", "7", "-p", "3", "-s", "2"), "112"), (("6x6", "-k", "3"), "4x4"), (("32x32", "-k", "5"), "28x28"),
    (("4", "-k", "2", "-p", "2"), "7"),
])
def test_course_output_sizes(args, expected):
    result = invoke("size", *args)
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == f"output: {expected}"


@pytest.mark.parametrize("name,args", [
    ("conv", ("28", "-k", "3", "-s", "2")),
    ("same", ("224", "-k", "3", "-s", "2", "-p", "same")),
    ("pool-ceil", ("6", "-k", "3", "-s", "2", "-p", "1", "--pool", "--ceil")),
    ("transposed", ("7", "-k", "4", "-s", "2", "-p", "1", "--transposed")),
    ("keras-transposed", ("7", "-k", "3", "-s", "2", "-p", "valid", "--transposed")),
])
def test_working_word_for_word(name, args, overwrite):
    result = invoke("size", *args)
    text = result.stdout + "".join(f"[stderr] {line}\n" for line in result.stderr.splitlines())
    assert text == expected_text(GOLDEN / f"size-{name}.txt", text, overwrite)


def test_size_json_strict_and_bad_options():
    data = json.loads(invoke("size", "28", "-k", "3", "-s", "2", "--format", "json").stdout)
    assert data["output"] == 13 and data["formula"].startswith("out = floor(") and "the last 1 of the 28 input positions (number 27, counting from 0) is never reached" in data["warnings"][0]
    strict = invoke("size", "28", "-k", "3", "-s", "2", "--strict")
    assert strict.exit_code == 2 and "(--strict)" in strict.stderr
    assert invoke("size", "28", "-k", "3", "--ceil").exit_code == 2
    assert "-p must be" in invoke("size", "28", "-k", "3", "-p", "sam").stderr
    assert json.loads(invoke("size", "224x112", "-k", "3x1", "-s", "2", "--format", "json").stdout)["output"] == [111, 56]


# -- solve, brute-forced against PyTorch's own shape rules -----------------------------------------
N_IN = 13  # odd, so inexact divisions and both roundings occur; outputs 7..45 keep the default ranges


def torch_out(kind: str, n: int, k: int, s: int, p: int, d: int, extra: int = 0) -> int | None:
    """PyTorch's output length, measured on zeros (no arithmetic of ours)."""
    x = torch.zeros(1, 1, n)
    try:
        if kind == "conv":
            y = F.conv1d(x, torch.zeros(1, 1, k), stride=s, padding=p, dilation=d)
        elif kind == "transposed":
            y = F.conv_transpose1d(x, torch.zeros(1, 1, k), stride=s, padding=p, output_padding=extra, dilation=d)
        else:
            y = F.max_pool1d(x, k, s, p)
    except RuntimeError:
        return None
    return y.shape[-1] if y.shape[-1] > 0 else None


def keras_out(kind: str, n: int, k: int, s: int, padding: str, d: int) -> int | None:
    """Keras's output length for 'same' and 'valid': its own shape functions (what its
    layers' compute_output_shape call), and its layers' refusal of a stride with a dilation
    (keras/src/layers/convolutional/base_conv.py)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    from keras.src.backend.common.backend_utils import compute_conv_transpose_output_shape
    from keras.src.ops.operation_utils import compute_conv_output_shape, compute_pooling_output_shape

    if kind != "pool" and s > 1 and d > 1:
        return None
    try:
        if kind == "pool":
            out = compute_pooling_output_shape((1, n, 1), (k,), (s,), padding)[1]
        elif kind == "transposed":
            out = compute_conv_transpose_output_shape((1, n, 1), (k,), 1, (s,), padding, None, "channels_last", (d,))[1]
        else:
            out = compute_conv_output_shape((1, n, 1), 1, (k,), (s,), padding, "channels_last", (d,))[1]
    except ValueError:
        return None
    return out if out and out > 0 else None


@pytest.fixture(scope="module")
def settings_by_output():
    """kind -> output length -> every setting within the ranges `solve` searches for
    N_IN -> 7..45 (kernel 1-11, stride 1-4, dilation 1-3, padding 0 to the span - 1, pools'
    padding at most half the kernel, every output_padding below max(stride, dilation),
    'same' and 'valid'), each measured once by PyTorch (Keras for the words)."""
    table = {}
    for kind in ("conv", "transposed", "pool"):
        found = table.setdefault(kind, {})
        for k in range(1, 12):
            for s in range(1, 5):
                for d in ([1] if kind == "pool" else [1, 2, 3]):
                    span = d * (k - 1) + 1
                    for p in range(0, (k // 2 if kind == "pool" else span - 1) + 1):
                        for extra in range(max(s, d)) if kind == "transposed" else [None]:
                            out = torch_out(kind, N_IN, k, s, p, d, extra or 0)
                            if out is not None:
                                found.setdefault(out, set()).add((k, s, p, d, extra))
                    for word in ("same", "valid"):
                        out = keras_out(kind, N_IN, k, s, word, d)
                        if out is not None:
                            found.setdefault(out, set()).add((k, s, word, d, None))
    return table


@pytest.mark.parametrize("kind", ["conv", "transposed", "pool"])
def test_solve_lists_exactly_what_pytorch_gives(kind, settings_by_output):
    """For every output from 7 to 45 (26 for transposed, whose stride range grows past it):
    nothing listed is wrong and nothing in range is missing, output_padding included."""
    table = settings_by_output[kind]
    for n_out in range(7, 27 if kind == "transposed" else 46):
        ranges = Ranges.of(N_IN, n_out, kind == "transposed", kind == "pool")
        assert (ranges.kernels, ranges.strides) == (11, 4)
        found = solve(N_IN, n_out, transposed_conv=kind == "transposed", pool=kind == "pool")
        listed = {(x.kernel, x.stride, x.padding, x.dilation, x.output_padding) for x in found}
        expected = table.get(n_out, set())
        assert listed == expected, (n_out, sorted(listed ^ expected, key=str)[:5])
        keys = [x.rank() for x in found]
        assert keys == sorted(keys)


def test_solve_ranks_standard_hole_free_designs_first():
    """The issue's cases: 128 -> 256 transposed with k3 p1 needs output_padding 1; 16000 ->
    400 needs stride 40; kernel 1 with stride 2 (skipping inputs) is never first."""
    (only,) = solve(128, 256, kernel=3, padding="1", transposed_conv=True)
    assert (only.stride, only.output_padding) == (2, 1)
    assert torch_out("transposed", 128, 3, 2, 1, 1, 1) == 256
    first = solve(16000, 400)[0]
    assert (first.kernel, first.stride, first.padding) == (40, 40, 0) and torch_out("conv", 16000, 40, 40, 0, 1) == 400
    for setting in [x for x in solve(16000, 400, kernel=41) if isinstance(x.padding, int)][:20]:
        assert torch_out("conv", 16000, setting.kernel, setting.stride, setting.padding, setting.dilation) == 400
    halves = solve(224, 112)
    assert not halves[0].holes and any(x.holes for x in halves)
    assert all(not x.holes for x in halves[: next(i for i, x in enumerate(halves) if x.holes)])
    transposed = solve(128, 256, transposed_conv=True)
    assert (3, 2, 1, 1) in [(x.kernel, x.stride, x.padding, x.output_padding) for x in transposed[:3]]


def test_solve_command(overwrite):
    result = invoke("solve", "--in", "224", "--out", "112", "-k", "7")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].strip() == "kernel 7, stride 2, padding 3  (PyTorch)"
    assert invoke("solve", "--in", "5", "--out", "500", "-k", "1").exit_code == 1
    both = json.loads(invoke("solve", "--in", "224x112", "--out", "112x56", "-k", "3", "--format", "json").stdout)
    assert len(both) == 2 and all(torch_out("conv", n, x["kernel"], x["stride"], x["padding"], x["dilation"]) == n // 2
                                  for n, axis in zip((224, 112), both) for x in axis if isinstance(x["padding"], int))
    for lang in ("en", "ko"):
        text = invoke("solve", "--in", "128", "--out", "256", "--transposed", "--lang", lang).stdout
        text += invoke("solve", "--in", "224x224", "--out", "112x112", "-k", "3", "--lang", lang).stdout
        assert text == expected_text(GOLDEN / f"solve.{lang}.txt", text, overwrite)


def test_check_the_course_figures_are_right():
    """Note 002's printed figures (14x14x32, 7x7x64, 3136, 320 / 18,496 / 401,536 / 1,290,
    421,642), written as the note writes them, all hold for its network with 'same'."""
    result = invoke("check", HOMEWORK / "mnist-course.yaml", HOMEWORK / "mnist-course-answers.yaml")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "score: 8/8"
    # With 'valid' convolutions the same figures are wrong, and check says why.
    valid = "input 28x28x1 channels_last | conv1: conv2d 32 k=3 | pool1: maxpool2d 2 | conv2: conv2d 64 k=3 | pool2: maxpool2d 2 | flatten: flatten | fc1: linear 128 | fc2: linear 10"
    result = invoke("check", "-e", valid, HOMEWORK / "mnist-course-answers.yaml")
    assert result.exit_code == 1
    assert "WRONG  pool1 output_shape: you wrote 14x14x32, the network gives [13, 13, 32]" in result.stdout
    assert "401,536 implies 3,136 input features, but this layer receives 1,600 from (1600,)" in result.stdout


def test_check_the_notes_slips_with_their_right_answers():
    for name in ("dense-only", "padding-channels"):
        result = invoke("check", HOMEWORK / f"{name}.yaml", HOMEWORK / f"{name}-answers.yaml")
        assert result.exit_code == 0, result.stdout
    # The right figures, from PyTorch: 784 -> 512 -> 10 with biases; one 2x2x2 filter, padding 2.
    dense = nn.Sequential(nn.Linear(784, 512), nn.Linear(512, 10))
    assert sum(p.numel() for p in dense.parameters()) == 407_050
    assert nn.Conv2d(2, 1, 2, padding=2)(torch.zeros(1, 2, 4, 4)).shape[1:] == (1, 7, 7)


def test_loss_is_pytorchs_cross_entropy(overwrite):
    """The course's softmax example: p = 0.97589 (printed rounded as 0.98), so the loss is
    0.02441, not -ln 0.98 = 0.02020; and for scores, F.cross_entropy itself."""
    scores = torch.tensor([[0.87, 3.2, 0.31, 7.2, 1.2, 0.4]], dtype=torch.float64)
    expected = F.cross_entropy(scores, torch.tensor([3])).item()
    for lang in ("en", "ko"):
        result = invoke("run", HOMEWORK / "softmax.yaml", "--target", "3", "--lang", lang)
        tail = result.stdout[result.stdout.index("output:"):]
        assert tail == expected_text(GOLDEN / f"loss.{lang}.txt", tail, overwrite)
        assert f"{expected:.10g}" in tail
    assert abs(expected - 0.0244078) < 1e-6 and abs(-math.log(0.98) - expected) > 0.004
    result = invoke("run", "-e", "input 6 | fc: linear 6", "--target", "1", "--batch", "3", "--format", "json")
    loss = json.loads(result.stdout)["loss"]
    assert len(loss["samples"]) == 3 and abs(loss["loss"] - sum(s["loss"] for s in loss["samples"]) / 3) < 1e-12
    for sample in loss["samples"]:
        assert abs(sample["loss"] + math.log(sample["probabilities"][1])) < 1e-12 and abs(sum(sample["probabilities"]) - 1) < 1e-12


def test_check_recognises_mix_ups_and_bad_answers(tmp_path):
    net = ROOT / "examples" / "mnist-421k.yaml"
    (tmp_path / "a.yaml").write_text("conv1: {output_shape: [28, 28, 32]}\npool1: {output_shape: [1, 32, 14, 14]}\n")
    result = invoke("check", net, tmp_path / "a.yaml", "--format", "json")
    notes = [a["note"] for a in json.loads(result.stdout)["answers"]]
    assert notes[0].startswith("layout mix-up") and "batch dimension" in notes[1]
    (tmp_path / "b.yaml").write_text("fc_1: {params: 3}\n")
    bad = invoke("check", net, tmp_path / "b.yaml")
    assert bad.exit_code == 2 and bad.stderr.startswith(f"{tmp_path / 'b.yaml'}:1:1: error: no layer named 'fc_1' (did you mean 'fc1'?)")
    (tmp_path / "c.yaml").write_text("fc1: {parms: 3}\n")
    assert "unknown field 'parms' (did you mean 'params'?)" in invoke("check", net, tmp_path / "c.yaml").stderr


def test_check_explains_keras_totals(tmp_path):
    (tmp_path / "a.yaml").write_text("total: {params: 11699112}\n")
    result = invoke("check", ROOT / "examples" / "resnet18.yaml", tmp_path / "a.yaml")
    assert "Keras's total, which counts BatchNorm's running statistics" in result.stdout


def test_explain_working(overwrite):
    result = invoke("summary", ROOT / "examples" / "mnist-421k.yaml", "--explain", "conv2")
    assert result.stdout == expected_text(GOLDEN / "explain-conv2.txt", result.stdout, overwrite)
    everything = invoke("summary", ROOT / "examples" / "lenet5.yaml", "--explain")
    assert everything.stdout.count("receptive field:") == 12
    assert invoke("summary", ROOT / "examples" / "lenet5.yaml", "--explain", "c33").exit_code == 2


def explained(path: Path, layer: str) -> str:
    """The working `summary --explain` shows for one layer (its paragraph)."""
    result = invoke("summary", path, "--explain")
    assert result.exit_code == 0, result.output
    return next(part for part in result.stdout.split("\n\n") if part.startswith(f"{layer} ("))


def test_explain_covers_adaptive_and_global_pooling():
    """Found by fuzzing: window layers without a kernel (adaptive, global pools). The
    working states the figures of the summary itself."""
    path = ROOT / "examples" / "resnet18.yaml"
    row = next(row for row in cnncalc.summary(cnncalc.load(path)).layers if row.name == "avgpool")
    text = explained(path, "avgpool")
    assert text.startswith("avgpool (adaptive_avgpool2d), input (512, 7, 7)\n")
    assert f"output: output shape {row.output_shape}" in text and row.output_shape == (512, 1, 1)
    field = row.receptive_field
    assert f"receptive field: r = {field.size[0]}, stride S = {field.stride[0]}, padding P = {field.padding[0]}" in text
    text = explained(ROOT / "examples" / "mobilenetv2.yaml", "global_avgpool_1")
    assert "output: output shape (1280,)" in text and "receptive field: global: 'global_avgpool_1' mixes every position" in text


# -- check: every notation and every diagnosis, in both languages (golden) -------------------------
CNN = "input 3x32x32 | conv1: conv2d 8 k=3 | pool1: maxpool2d 2 | conv2: conv2d 16 k=3 padding=1 stride=2 | flatten: flatten | fc: linear 10"
SAME = "input 3x32x32 | conv1: conv2d 8 k=3 padding=same | fc: flatten | out: linear 10"
HWC = "input 32x32x3 channels_last | conv1: conv2d 8 k=3 | flat: flatten | fc: linear 10"
MLP = "input 784 | hidden: linear 512 | output: linear 10"
# PyTorch's figures for CNN (torch.nn, checked in test_check_cases_figures_are_pytorchs): conv1
# (8, 30, 30), 224 params; pool1 (8, 15, 15); conv2 (16, 8, 8), 1,168 params; flatten 1024;
# fc 10,250 params. conv1's receptive field is 3, pool1's 4.
CHECK_CASES = [
    # name, network, answers, marks expected right (in order), a phrase the English note holds
    ("notation-list", CNN, "conv1: {output_shape: [8, 30, 30]}", [True], ""),
    ("notation-x", CNN, "conv1: {output_shape: 8x30x30}", [True], ""),
    ("notation-tuple-text", CNN, 'conv1: {output_shape: "(8, 30, 30)"}', [True], ""),
    ("notation-tuple-bare", CNN, "conv1:\n  output_shape: (8, 30, 30)", [True], ""),
    ("notation-flow-tuple", CNN, "conv1: {output_shape: (8, 30, 30)}", [True], ""),
    ("notation-times-sign", CNN, "conv1: {output_shape: 8 × 30 × 30}", [True], ""),
    ("notation-spatial-only", CNN, "conv1: {output_shape: 30x30}", [True], "read as the spatial size 30x30 only"),
    ("notation-field", CNN, "conv1: {receptive_field: 3x3}\npool1: {receptive_field: [4, 4]}", [True, True], ""),
    ("notation-field-mapping", CNN, "conv1: {receptive_field: {size: 3}}", [True], ""),
    ("notation-quoted-number", CNN, "conv1: {params: '224'}\nfc: {params: '10,250'}", [True, True], ""),
    ("notation-flatten-number", CNN, "flatten: {output_shape: 1024}", [True], ""),
    ("dense-bias-forgotten", MLP, "hidden: {params: 401408}", [False], "the bias is forgotten"),
    ("dense-wrong-flatten", CNN, "fc: {params: 36010}", [False], "implies 3,600 input features"),
    ("conv-bias-forgotten", CNN, "conv1: {params: 216}", [False], "the bias is forgotten"),
    ("conv-channels-forgotten", CNN, "conv2: {params: 160}", [False], "the input channels are forgotten"),
    ("conv-channels-and-bias-forgotten", CNN, "conv2: {params: 144}", [False], "the input channels and the bias are forgotten"),
    ("conv-output-channels", CNN, "conv2: {params: 2320}", [False], "counts the output channels 16 as the input channels"),
    ("same-for-valid", CNN, "conv1: {output_shape: [8, 32, 32]}", [False], "padding same; this layer has padding 0"),
    ("valid-for-same", SAME, "conv1: {output_shape: [8, 30, 30]}", [False], "padding valid; this layer has padding same"),
    ("stride-off-by-one", CNN, "conv2: {output_shape: [16, 15, 15]}", [False], "stride 1; this layer has stride 2"),
    ("padding-off-by-one", CNN, "conv2: {output_shape: [16, 7, 7]}", [False], "padding 0; this layer has padding 1"),
    ("layout-order", CNN, "conv1: {output_shape: 30x30x8}", [False], "layout mix-up"),
    ("layout-order-channels-last", HWC, "conv1: {output_shape: [8, 30, 30]}", [False], "layout mix-up"),
    ("batch-axis", CNN, "conv1: {output_shape: [1, 8, 30, 30]}", [False], "batch dimension"),
    ("channels-from-input", CNN, "conv1: {output_shape: [3, 30, 30]}", [False], "the number of filters (out = 8)"),
    ("flops-2macs", CNN, "conv1: {flops: 388800}", [False], "that is 2 x MACs (194,400)"),
    ("flops-convention-2macs", CNN, "flops_convention: 2macs\nconv1: {flops: 388800}\ntotal: {flops: 556736}", [True, True], ""),
    ("flops-given-macs", CNN, "conv1: {flops: 194400}", [False], "that is the MAC count"),
    ("macs-given-flops", CNN, "conv1: {macs: 388800}", [False], "that is a FLOP count"),
    ("total-without-bias", MLP, "total: {params: 406528}", [False], "the total without any bias"),
    ("total-one-layer-weights", MLP, "total: {params: 401408}", [False], "the weights of hidden alone"),
]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_check_cases(lang, overwrite):
    """Each notation read, each slip named, word for word in English and Korean; the marks
    themselves (right or wrong) are the expected ones in both."""
    out = []
    for name, network, answers, expected, phrase in CHECK_CASES:
        result = CliRunner().invoke(main, ["check", "-e", network, "-", "--lang", lang, "--format", "json"], input=answers + "\n")
        assert result.exit_code == (0 if all(expected) else 1), (name, result.output)
        marks = json.loads(result.stdout)["answers"]
        assert [m["ok"] for m in marks] == expected, name
        if lang == "en" and phrase:
            assert any(phrase in m["note"] for m in marks), (name, [m["note"] for m in marks])
        text = CliRunner().invoke(main, ["check", "-e", network, "-", "--lang", lang], input=answers + "\n").stdout
        out.append(f"== {name}: {answers!r}\n{text}")
    text = "\n".join(out)
    assert text == expected_text(GOLDEN / f"check-cases.{lang}.txt", text, overwrite)


def test_check_cases_figures_are_pytorchs():
    """The figures the cases above take as right, from PyTorch itself."""
    conv1, conv2, fc = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.Linear(1024, 10)
    x = conv1(torch.zeros(1, 3, 32, 32))
    y = conv2(F.max_pool2d(x, 2))
    assert x.shape[1:] == (8, 30, 30) and y.shape[1:] == (16, 8, 8) and y.flatten(1).shape[1] == 1024
    assert [sum(p.numel() for p in m.parameters()) for m in (conv1, conv2, fc)] == [224, 1168, 10250]
    assert nn.Conv2d(8, 16, 3, stride=1, padding=1)(torch.zeros(1, 8, 15, 15)).shape[-1] == 15
    assert nn.Conv2d(8, 16, 3, stride=2, padding=0)(torch.zeros(1, 8, 15, 15)).shape[-1] == 7
    assert nn.Conv2d(3, 8, 3, padding=1)(torch.zeros(1, 3, 32, 32)).shape[-1] == 32
    assert 784 * 512 == 401_408 and 784 * 512 + 512 * 10 == 406_528


def test_catalogue_has_both_languages_with_the_same_placeholders():
    from cnncalc.i18n import CATALOGUE, placeholders

    for key, texts in CATALOGUE.items():
        assert set(texts) == {"en", "ko"}, key
        assert placeholders(texts["en"]) == placeholders(texts["ko"]), key
    korean = [key for key, texts in CATALOGUE.items() if any("\uac00" <= char <= "\ud7a3" for char in texts["ko"])]
    assert len(korean) > 0.85 * len(CATALOGUE)  # the rest are formulas, the same in both


def test_language_comes_from_the_environment_else_english(overwrite):
    from cnncalc.i18n import language_from_env

    assert language_from_env({"LANG": "ko_KR.UTF-8"}) == "ko" and language_from_env({}) == "en"
    assert language_from_env({"LC_ALL": "C", "LANG": "ko_KR.UTF-8"}) == "en"  # LC_ALL decides first
    runner = CliRunner()
    korean = runner.invoke(main, ["size", "28", "-k", "3"], env={"LANG": "ko_KR.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""})
    assert korean.stdout.splitlines()[-1] == "출력: 26"
    assert runner.invoke(main, ["size", "28", "-k", "3", "--lang", "en"], env={"LANG": "ko_KR.UTF-8"}).stdout.endswith("output: 26\n")
    # summary without --explain stays English whatever LANG says (a table has no sentences)
    for lang in ("en", "ko"):
        text = invoke("size", "28", "-k", "3", "-s", "2", "--lang", lang)
        text = text.stdout + "".join(f"[stderr] {line}\n" for line in text.stderr.splitlines())
        text += invoke("size", "7", "-k", "4", "-s", "2", "-p", "1", "--transposed", "--lang", lang).stdout
        text += invoke("summary", ROOT / "examples" / "mnist-421k.yaml", "--explain", "conv2", "--lang", lang).stdout
        text += invoke("summary", ROOT / "examples" / "mnist-421k.yaml", "--explain", "fc1", "--lang", lang).stdout
        assert text == expected_text(GOLDEN / f"size-explain.{lang}.txt", text, overwrite)
