"""`cnncalc run`: whole networks against PyTorch with the same weights, the CLI contract
(CONTRACT.md §5 and §7), inline homework weights, and the resource guards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import cnncalc
from cnncalc.cli import main
from test_forward import randomise_statistics
from zoo_torch import ZOO

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# Not VGG16 (15 GMACs, and a 550 MB weights file): AlexNet is the same chain of the same
# layer types. Not U-Net (150 GMACs, 20 s): its layer types are compared value by value in
# test_forward.py (crop, concat, transposed conv included), its wiring weight by weight and
# shape by shape in test_zoo.py, and branches joined by concat in test_differential.py.
ZOO_RUNS = sorted(set(ZOO) - {"unet", "vgg16"})


@pytest.mark.parametrize("name", ZOO_RUNS)
def test_zoo_forward_equals_pytorch_with_the_same_weights(name, tmp_path):
    """A state_dict saved with numpy.savez loads as it is (CONTRACT.md §5)."""
    build, shape = ZOO[name]
    torch.manual_seed(0)
    model = build().eval()
    with torch.no_grad():
        randomise_statistics(model)
        x = torch.randn(1, *shape)
        expected = model(x).numpy()
    np.savez(tmp_path / "w.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    np.save(tmp_path / "x.npy", x.numpy()[0])  # without the batch axis
    result = invoke("run", ROOT / "examples" / f"{name}.yaml", "--weights", tmp_path / "w.npz",
                    "--data", tmp_path / "x.npy", "--save", tmp_path / "out.npz", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["random_weights"] == []
    with np.load(tmp_path / "out.npz") as saved:
        got = saved[report["layers"][-1]["name"]]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=2e-4 * scale)


def test_keras_layout_network_runs_and_reports_random_weights():
    result = invoke("run", ROOT / "examples" / "keras-mnist.yaml", "--format", "json", "--batch", "3")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"]
    assert report["layers"][0]["shape"] == [3, 26, 26, 32]
    assert report["random_weights"] == ["conv2d_1", "conv2d_2", "conv2d_3", "linear_1", "linear_2"]
    assert {"name", "expected_shape", "shape", "ok", "seconds"} <= set(report["layers"][0])


def test_seed_makes_runs_repeatable(tmp_path):
    path = ROOT / "examples" / "lenet5.yaml"
    for seed, file in ((1, "a.npz"), (1, "b.npz"), (2, "c.npz")):
        assert invoke("run", path, "--seed", seed, "--save", tmp_path / file).exit_code == 0
    a, b, c = (np.load(tmp_path / f)["output"] for f in ("a.npz", "b.npz", "c.npz"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_float64_agrees_with_float32(tmp_path):
    path = ROOT / "examples" / "tiny-resnet.yaml"
    outputs = []
    for dtype in ("float32", "float64"):
        assert invoke("run", path, "--dtype", dtype, "--save", tmp_path / f"{dtype}.npz").exit_code == 0
        with np.load(tmp_path / f"{dtype}.npz") as saved:
            outputs.append(saved["fc"])
    assert outputs[0].dtype == np.float32 and outputs[1].dtype == np.float64
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)


def test_a_shape_mismatch_exits_1(monkeypatch):
    from cnncalc.layers import REGISTRY

    pool = REGISTRY.get("global_avgpool")  # not fused into the layer before it, as every ReLU here is
    wrong = pool.forward
    monkeypatch.setattr(pool, "forward", lambda self, inputs, *args, **kwargs: wrong(self, inputs, *args, **kwargs)[..., :-1])
    result = invoke("run", ROOT / "examples" / "tiny-resnet.yaml")
    assert result.exit_code == 1
    assert "MISMATCH" in result.stdout and "differ from the computed ones" in result.stdout


def test_weights_with_a_wrong_shape_are_bad_input(tmp_path):
    np.savez(tmp_path / "w.npz", **{"conv1.weight": np.zeros((32, 3, 3, 3), np.float32)})
    result = invoke("run", ROOT / "examples" / "mnist-421k.yaml", "--weights", tmp_path / "w.npz")
    assert result.exit_code == 2
    assert "weight 'conv1.weight' has shape (32, 3, 3, 3) but layer 'conv1' (conv2d) needs (32, 1, 3, 3)" in result.stderr


def test_unused_weights_are_reported(tmp_path):
    """Keys that match no weight are named (a key matching nothing at all is an error: see
    tests/bad/run-weights-match-nothing)."""
    net = cnncalc.load(ROOT / "examples" / "mnist-421k.yaml")
    first = cnncalc.summary(net).layers[0]
    name, shape = first.weights[0]
    arrays = {f"{first.name}.{name}": np.zeros(shape, np.float32), "conv9.weight": np.zeros(3), "bn.num_batches_tracked": np.zeros(())}
    np.savez(tmp_path / "w.npz", **arrays)
    result = invoke("run", ROOT / "examples" / "mnist-421k.yaml", "--weights", tmp_path / "w.npz")
    assert result.exit_code == 0 and "unused weights in the file: conv9.weight" in result.stderr
    assert "bn.num_batches_tracked" not in result.stderr  # PyTorch's counter: no role here


def test_memory_estimate_refuses_a_huge_run():
    result = invoke("run", ROOT / "examples" / "vgg16.yaml", "--input", "3x20000x20000")
    assert result.exit_code == 2
    assert "at its peak, more than the limit" in result.stderr
    small = invoke("run", ROOT / "examples" / "lenet5.yaml", "--max-memory", "1K")
    assert small.exit_code == 2 and "--max-memory" in small.stderr


def test_save_is_atomic_and_keeps_a_good_file(tmp_path, monkeypatch):
    from cnncalc.forward import arrays

    target = tmp_path / "out.npz"
    assert invoke("run", ROOT / "examples" / "lenet5.yaml", "--save", target).exit_code == 0
    before = target.read_bytes()

    def broken(stream, array, **options):
        stream.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(arrays.npy_format, "write_array", broken)
    result = invoke("run", ROOT / "examples" / "lenet5.yaml", "--save", target)
    assert result.exit_code == 2 and f"cannot write {target}: disk full" in result.stderr
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]


HOMEWORK = ROOT / "examples" / "homework"


def final_output(path, tmp_path):
    result = invoke("run", path, "--save", tmp_path / "o.npz", "--format", "json", "--dtype", "float64")
    assert result.exit_code == 0, result.output
    name = json.loads(result.stdout)["layers"][-1]["name"]
    with np.load(tmp_path / "o.npz") as saved:
        return saved[name][0]


def test_course_conv_patch_gives_minus_one(tmp_path):
    """REFERENCE.md worked examples: patch [[1,2,0],[0,1,3],[2,1,1]] with filter [[1,0,-1]]*3 -> -1."""
    assert final_output(HOMEWORK / "conv-patch.yaml", tmp_path).item() == -1.0


def test_course_max_pooling(tmp_path):
    """REFERENCE.md: 2x2 max pooling, stride 2 -> [[6, 8], [14, 16]]."""
    assert final_output(HOMEWORK / "maxpool.yaml", tmp_path).tolist() == [[[6.0, 8.0], [14.0, 16.0]]]


def test_course_softmax_and_cross_entropy(tmp_path):
    """REFERENCE.md: softmax of [0.87, 3.2, 0.31, 7.2, 1.2, 0.4] ~ [1.7e-3, 1.8e-2, 9.9e-4, 0.98, 2.4e-3, 1.1e-3]."""
    probabilities = final_output(HOMEWORK / "softmax.yaml", tmp_path)
    np.testing.assert_allclose(probabilities, [1.7e-3, 1.8e-2, 9.9e-4, 0.98, 2.4e-3, 1.1e-3], rtol=0.06)
    assert abs(-np.log(probabilities[3]) - (-np.log(0.98))) < 0.01


def test_small_outputs_are_printed():
    assert "[[[[-1.]]]]" in invoke("run", HOMEWORK / "conv-patch.yaml").stdout


def test_inline_weights_with_a_wrong_shape_point_at_the_file(tmp_path):
    text = (HOMEWORK / "conv-patch.yaml").read_text().replace("[[[[1, 0, -1],", "[[[[1, 0],")
    text = text.replace("               [1, 0, -1],\n               [1, 0, -1]]]]", "               [1, 0]]]]")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = invoke("run", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:12:13: error: weight 'conv.weight' has shape (1, 1, 2, 2)")


@pytest.mark.parametrize("slow", [True, False])
def test_long_runs_show_progress_on_a_terminal(monkeypatch, slow):
    """A run above cli.SLOW_FLOPS shows a progress bar on a terminal; one below does not.
    The threshold is moved next to LeNet-5's count so the test does not spend seconds on a
    real long run."""
    import io

    import click

    from cnncalc import cli

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    flops = json.loads(invoke("summary", ROOT / "examples" / "lenet5.yaml", "--format", "json").stdout)["totals"]["flops"]
    monkeypatch.setattr(cli, "SLOW_FLOPS", flops - 1 if slow else flops)
    terminal = Terminal()
    monkeypatch.setattr(click, "get_text_stream", lambda name: terminal)
    result = invoke("run", ROOT / "examples" / "lenet5.yaml", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"]
    assert ("forward" in terminal.getvalue()) == slow


def test_inline_weights_that_are_not_numbers_are_bad_input(tmp_path):
    """Found by fuzzing: a word in an inline weight reached NumPy's conversion."""
    text = (HOMEWORK / "conv-patch.yaml").read_text().replace("[[[[1, 0, -1],", "[[[[nowhere, 0, -1],")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = invoke("run", path)
    assert result.exit_code == 2
    assert "weight 'conv.weight' must be a (nested) list of numbers in PyTorch's layout (1, 1, 3, 3)" in result.stderr


@pytest.mark.parametrize("alias", ["dropout", "identity", "flatten"])
def test_in_place_layers_never_overwrite_a_value_another_layer_still_reads(alias):
    """Found by the differential tests: dropout returns its input itself, so a BatchNorm
    reading the same tensor afterwards overwrote the dropout's output in place."""
    from cnncalc.forward.runner import execute

    text = f"""
input: [2, 4, 4]
layers:
  - conv2d: {{out: 3, kernel: 1}}
    name: conv
  - {alias}:
    name: alias
  - batchnorm:
    from: conv
    name: bn
  - relu:
    name: relu
  - flatten:
    from: alias
    name: a
  - flatten:
    from: relu
    name: b
  - concat: [a, b]
"""
    net = cnncalc.loads(text, format="yaml", path="alias.yaml")
    rng = np.random.default_rng(0)
    params = {
        "conv": {"weight": rng.normal(size=(3, 2, 1, 1)), "bias": rng.normal(size=3)},
        "bn": {"weight": rng.normal(size=3), "bias": rng.normal(size=3),
               "running_mean": rng.normal(size=3), "running_var": rng.uniform(1, 2, size=3)},
    }
    x = rng.normal(size=(2, 2, 4, 4))
    kept = execute(net, params, x.copy(), keep=True)[0]  # keeps every value: nothing in place
    fast = execute(net, params, x.copy(), keep=False)[0]
    np.testing.assert_array_equal(fast, kept)
