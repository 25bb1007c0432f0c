"""`cnncalc export --to onnx` for every layer type, at the oldest and the newest opset written.

Every registered type on random attributes (tests/oracle.py, the PyTorch oracle's cases), in
either layout, is exported at opset 13 and at the newest (export/onnx.LATEST), checked by
onnx's checker with full shape inference (an operator or attribute the opset does not have
fails there), and run in onnxruntime: its output must equal `cnncalc run`'s with the same
weights and, channels first, that of the oracle's own PyTorch module holding those weights
(float32, relative 1e-4). The example networks that use the newer types export and agree
too, and `--opset` picks the operators: native ones where the opset has them, the same
function in older operators below.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

import cnncalc  # noqa: E402
from cnncalc.cli import main  # noqa: E402
from cnncalc.errors import CnnError  # noqa: E402
from cnncalc.export.onnx import LATEST, OLDEST, to_onnx  # noqa: E402
from cnncalc.forward import runner  # noqa: E402
from cnncalc.forward.runner import execute, index_range  # noqa: E402
from cnncalc.layers import REGISTRY  # noqa: E402
from cnncalc.layers.activation import Activation  # noqa: E402
from cnncalc.layers.base import Layer  # noqa: E402
from helpers import summarise  # noqa: E402
from oracle import all_types, family_of, sample  # noqa: E402
from test_onnx import EXAMPLES  # noqa: E402

OPSETS = (OLDEST, LATEST)


def onnxruntime_outputs(model, x: dict) -> list:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, x)


def close(theirs, ours, what: str) -> None:
    """float32 agreement: relative 1e-4, and 1e-4 of the largest value for values near 0;
    NaN where both have it (L_p pooling of a negative sum)."""
    scale = float(np.nanmax(np.abs(ours))) if np.isfinite(ours).any() else 1.0
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4 * max(scale, 1e-6), err_msg=what)


def rotated(shape: list[int]) -> list[int]:
    return [*shape[1:], shape[0]] if len(shape) > 1 else shape


def torch_weights(module, rng) -> dict:
    """The module's tensors (a wrapper's 'conv.' prefix dropped) after a random nudge: norm
    scales and shifts away from 1 and 0, running variances positive and away from 1."""
    state = {}
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if tensor.is_floating_point():
                noise = torch.from_numpy(rng.standard_normal(tuple(tensor.shape)).astype(np.float32))
                if name.endswith(("running_var", "variance")):
                    tensor.copy_(noise.abs() + 0.5)
                elif not name.endswith("count"):
                    tensor.add_(0.1 * noise)
            state[name.removeprefix("conv.")] = tensor.numpy().copy()
    return state


@pytest.mark.parametrize("cls", all_types(), ids=lambda c: c.type_name)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_layer_type_runs_in_onnxruntime_as_in_cnncalc_and_pytorch(cls, data):
    shape, layers, build = family_of(cls)(data.draw, cls)
    channels_last = data.draw(st.booleans(), label="channels_last")
    document = {"input": rotated(shape) if channels_last else shape, "layers": layers}
    if channels_last:
        document["layout"] = "channels_last"
    try:
        summary = summarise(document, batch=2)
        module = build([1, *shape]).eval()
    except (CnnError, RuntimeError, ValueError, IndexError):
        return  # rejected: test_torch_oracle requires both sides to agree on that
    net = cnncalc.loads(yaml.safe_dump(document, sort_keys=False), format="yaml", path="case.yaml")
    rng = np.random.default_rng(0)
    if channels_last:  # the module's weights are for the channels-first case: cnncalc's seeded ones
        weights, _, _ = runner.prepare_weights(summary, net, {}, np.float32, rng)
    else:
        owners = [row for row in summary.layers if row.weights or row.buffers]
        assert len(owners) <= 1
        state = torch_weights(module, rng)
        weights = {owners[0].name: state} if owners else {}
        assert set(state) == ({name for name, _ in (*owners[0].weights, *owners[0].buffers)} if owners else set())
    x_torch = sample(build, 2, *shape)
    x = x_torch.numpy() if not channels_last else np.moveaxis(x_torch.numpy(), 1, -1).copy()
    ours = execute(net, weights, x)[0]
    if not channels_last:
        with torch.no_grad():
            theirs = module(x_torch).numpy()
        close(ours, theirs, f"cnncalc against PyTorch: {document}")
    for opset in OPSETS:
        model = to_onnx(net, weights, opset)
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == opset
        (got,) = onnxruntime_outputs(model, {"input": x})
        assert got.shape == ours.shape
        close(got, ours, f"opset {opset}: {document}")
        if not channels_last:
            close(got, theirs, f"opset {opset} against PyTorch: {document}")


def test_every_registered_type_has_its_own_onnx_form():
    """No type falls back on the base class's refusal; an activation registered with the
    shared class has its own form in its registration."""
    def has_form(cls) -> bool:
        if cls.onnx is Activation.onnx:
            return cls.onnx_form is not None
        return cls.onnx is not Layer.onnx

    assert [cls.type_name for cls in REGISTRY.types if not has_form(cls)] == []


# The examples with the newer types (permute, scale, stochastic depth, channel shuffle,
# rescaling, normalization, embedding), on small inputs, each at one end of the opsets (the
# types themselves are run at both above). deeplabv3's resizing like another layer is in
# test_the_opset_decides_the_operators (the example takes 5 s).
NEWER = {"convnext-tiny.yaml": ((3, 32, 32), LATEST), "shufflenetv2.yaml": ((3, 32, 32), OLDEST),
         "mobilenetv3-large.yaml": ((48, 48, 3), LATEST), "efficientnetb0-keras.yaml": ((32, 32, 3), OLDEST),
         "text-cnn.yaml": (None, LATEST)}


@pytest.mark.parametrize("name", NEWER)
def test_the_examples_with_the_newer_types_export_and_agree(name, tmp_path):
    shape, opset = NEWER[name]
    out = tmp_path / "model.onnx"
    args = ["export", str(EXAMPLES / name), "--to", "onnx", "-o", str(out), "--opset", str(opset)]
    args += ["--input", "x".join(map(str, shape))] if shape else []
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    net = cnncalc.load(EXAMPLES / name, input_shape=shape)
    model = onnx.load(out)
    assert model.opset_import[0].version == opset
    assert {node.name.split("/")[1] for node in model.graph.node} == {node.name for node in net.nodes}
    rng = np.random.default_rng(3)
    x = {name: rng.standard_normal((1, *shape)).astype(np.float32) if index_range(net, name) is None
         else rng.integers(*index_range(net, name), size=(1, *shape)).astype(np.float32) for name, shape in net.inputs.items()}
    theirs = onnxruntime_outputs(model, x)
    summary = cnncalc.summary(net, 1)
    ours = runner.run(net, summary, batch=1, dtype="float32", seed=0, weights={}, data=x["input"], data_location=None, keep=False).output
    ours = list(ours) if isinstance(ours, tuple) else [ours]
    assert len(theirs) == len(ours) == len(net.outputs)
    for a, b in zip(theirs, ours):
        close(a, b, name)


def operators(model) -> set[str]:
    return {node.op_type for node in model.graph.node}


def test_the_opset_decides_the_operators(tmp_path):
    """Native operators where the opset has them, the same function in older ones below:
    both run alike."""
    text = """input: [4, 6, 6]
layers:
  - layernorm: [6, 6]
  - gelu
  - hardswish
  - mish
  - groupnorm: 2
  - pad: {padding: 1, mode: circular}
  - upsample: {size: [9, 7], mode: bilinear}
  - upsample: {like: input, mode: bicubic}
"""
    (tmp_path / "net.yaml").write_text(text)
    models = {}
    for opset in (13, 17, 18, 19, 20, LATEST):
        out = tmp_path / f"{opset}.onnx"
        done = CliRunner().invoke(main, ["export", str(tmp_path / "net.yaml"), "--to", "onnx", "-o", str(out), "--opset", str(opset)])
        assert done.exit_code == 0, done.output
        models[opset] = onnx.load(out)
        assert models[opset].opset_import[0].version == opset
        onnx.checker.check_model(models[opset], full_check=True)
    assert not {"LayerNormalization", "Gelu", "HardSwish", "Mish"} & operators(models[13])
    assert {"Erf", "HardSigmoid", "Softplus", "ReduceMean"} <= operators(models[13])
    assert "LayerNormalization" in operators(models[17]) and "Gelu" not in operators(models[17])
    assert "Pad" not in operators(models[18]) and "Pad" in operators(models[19])  # 'wrap' from 19
    assert {"LayerNormalization", "Gelu", "HardSwish", "Mish"} <= operators(models[LATEST])
    assert "GroupNormalization" not in operators(models[LATEST])  # its meaning changed at 21: see GroupNorm.onnx
    net = cnncalc.load(tmp_path / "net.yaml")
    x = np.random.default_rng(7).standard_normal((2, 4, 6, 6)).astype(np.float32)
    summary = cnncalc.summary(net, 2)
    ours = runner.run(net, summary, batch=2, dtype="float32", seed=0, weights={}, data=x, data_location=None, keep=False).output
    for opset, model in models.items():
        close(onnxruntime_outputs(model, {"input": x})[0], ours, f"opset {opset}")


def test_l2_pooling_is_lppool_and_other_powers_pytorchs_chain():
    """LpPool (|x|^p) only where it equals PyTorch's sum of x^p: an even whole p."""
    def exported(attrs: str):
        net = cnncalc.loads(f"input: [2, 7, 7]\nlayers:\n  - lppool2d: {attrs}\n", format="yaml")
        weights, _, _ = runner.prepare_weights(cnncalc.summary(net), net, {}, np.float32, np.random.default_rng(0))
        return operators(to_onnx(net, weights, OLDEST))

    assert "LpPool" in exported("{norm_type: 2, kernel: 2}")
    assert "LpPool" not in exported("{norm_type: 3, kernel: 2}") and "Pow" in exported("{norm_type: 3, kernel: 2}")
    assert "LpPool" not in exported("{norm_type: 2, kernel: 2, ceil_mode: true}")  # ceil_mode adds a window here


def test_readme_opset_example_is_a_real_run(tmp_path, monkeypatch):
    """The README's operator counts of MobileNetV3-Large at opset 13 and 28, by its own commands."""
    import contextlib
    import io
    import re
    import shlex
    import sys

    readme = (EXAMPLES.parent / "README.md").read_text()
    (shown,) = [b for b in re.findall(r"```text\n(.*?)```", readme, re.DOTALL) if b.startswith("mobilenetv3-13.onnx ")]
    (commands,) = [b for b in re.findall(r"```bash\n(.*?)```", readme, re.DOTALL) if "mobilenetv3-13.onnx --opset 13" in b]
    monkeypatch.chdir(tmp_path)
    lines = commands.strip().splitlines()
    for line in lines[:-1]:
        words = shlex.split(line)
        assert words[0] == "cnncalc"
        done = CliRunner().invoke(main, [str(EXAMPLES.parent / w) if w.startswith("examples/") else w for w in words[1:]])
        assert done.exit_code == 0, done.output
    words = shlex.split(lines[-1])
    assert words[:2] == ["python", "-c"]
    printed = io.StringIO()
    monkeypatch.setattr(sys, "argv", ["-c", *words[3:]])
    with contextlib.redirect_stdout(printed):
        exec(words[2], {})  # the python -c line, in this process (a new one takes a second to start)
    assert printed.getvalue() == shown


@pytest.mark.parametrize("resize", ["scale: 0.5", "size: [2, 3]", "scale: 1.5"])
def test_a_channels_last_bicubic_shrink_runs_in_onnxruntime(resize):
    """onnxruntime's layout optimisation (on by default) makes Transpose, cubic Resize,
    Transpose one channels-last Resize, which it refuses to shrink with; the form keeps the
    transposes apart."""
    net = cnncalc.loads(f"input: [3, 5, 2]\nlayout: channels_last\nlayers:\n  - upsample: {{mode: bicubic, {resize}}}\n", format="yaml")
    x = np.random.default_rng(8).standard_normal((2, 3, 5, 2)).astype(np.float32)
    for opset in OPSETS:
        (got,) = onnxruntime_outputs(to_onnx(net, {}, opset), {"input": x})
        close(got, execute(net, {}, x)[0], f"{resize}, opset {opset}")


def test_a_max_pooling_window_of_padding_alone_is_minus_infinity():
    """A dilated window can step over the whole input: PyTorch gives -inf there, onnxruntime's
    MaxPool the lowest float; the form pads with -inf itself."""
    net = cnncalc.loads("input: [1, 1]\nlayers:\n  - maxpool1d: {kernel: 2, padding: 1, dilation: 2}\n", format="yaml")
    x = np.ones((2, 1, 1), np.float32)
    for opset in OPSETS:
        (got,) = onnxruntime_outputs(to_onnx(net, {}, opset), {"input": x})
        assert got.shape == (2, 1, 1) and np.all(got == -np.inf)
