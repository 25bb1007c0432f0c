"""Homework mode: `size` against PyTorch and Keras and the course's examples, the working
word for word (golden files), `solve` complete and simplest first, `check` and `--explain`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.cli import main
from cnncalc.errors import CnnError
from cnncalc.analysis.homework import KERNELS, STRIDES, conv_size, solve, transposed
from helpers import expected_text

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "homework"


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
    assert data["output"] == 13 and data["formula"].startswith("out = floor(") and "the last 1 of the 28 input positions is never reached" in data["warnings"][0]
    strict = invoke("size", "28", "-k", "3", "-s", "2", "--strict")
    assert strict.exit_code == 2 and "(--strict)" in strict.stderr
    assert invoke("size", "28", "-k", "3", "--ceil").exit_code == 2
    assert "-p must be" in invoke("size", "28", "-k", "3", "-p", "sam").stderr
    assert json.loads(invoke("size", "224x112", "-k", "3x1", "-s", "2", "--format", "json").stdout)["output"] == [111, 56]


@settings(max_examples=60, deadline=None)
@given(n_in=st.integers(4, 64), n_out=st.integers(1, 64), pool=st.booleans())
def test_solve_is_correct_complete_and_simplest_first(n_in, n_out, pool):
    """Every listed setting gives n_out (checked by size), and none within the searched
    ranges is missing (brute force)."""
    found = solve(n_in, n_out, pool=pool)
    listed = {(s.kernel, s.stride, s.padding, s.dilation) for s in found}
    for setting in found:
        assert conv_size(n_in, setting.kernel, setting.stride, setting.padding, setting.dilation, pool=pool).output == n_out
    brute = set()
    for k in KERNELS:
        for s in STRIDES:
            for d in ([1] if pool else [1, 2, 3]):
                for p in [*range(0, d * (k - 1) + 1), "same", "valid"]:
                    if pool and isinstance(p, int) and p > k // 2:
                        continue
                    if ours(conv_size, n_in, k, s, p, d, pool=pool) == n_out:
                        brute.add((k, s, p, d))
    assert listed == brute
    keys = [(x.inexact, x.dilation, x.stride, x.kernel) for x in found]
    assert keys == sorted(keys)


def test_solve_command():
    result = invoke("solve", "--in", "224", "--out", "112", "-k", "7")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].strip() == "kernel 7, stride 2, padding 3  (PyTorch)"
    assert invoke("solve", "--in", "5", "--out", "500", "-k", "1").exit_code == 1


def test_check_catches_the_course_inconsistency():
    result = invoke("check", ROOT / "examples" / "homework" / "mnist-course.yaml", ROOT / "examples" / "homework" / "mnist-course-answers.yaml")
    assert result.exit_code == 1
    assert "WRONG  fc1 params: you wrote 401536, the network gives 204928" in result.stdout
    assert "401,536 implies 3,136 input features, but this layer receives 1,600 from (1600,)" in result.stdout
    assert result.stdout.splitlines()[-1] == "score: 5/7"
    # With 'same' padding the parameters come right, but then the printed shapes are wrong:
    # no padding makes every printed figure true.
    same = invoke("check", ROOT / "examples" / "mnist-421k.yaml", ROOT / "examples" / "homework" / "mnist-course-answers.yaml")
    assert same.exit_code == 1 and "right  fc1 params: 401536" in same.stdout
    assert "WRONG  conv1 output_shape: you wrote [32, 26, 26], the network gives [32, 28, 28]" in same.stdout


def test_check_recognises_mix_ups_and_bad_answers(tmp_path):
    net = ROOT / "examples" / "homework" / "mnist-course.yaml"
    (tmp_path / "a.yaml").write_text("conv1: {output_shape: [26, 26, 32]}\npool1: {output_shape: [1, 32, 13, 13]}\n")
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
