"""ONNX files in (section 10): models exported by torch.onnx.export, read back by cnncalc.

Each model is exported once per module (the exporter is the slow part) with free height and
width, then required to agree with the framework: parameters and running statistics with
the PyTorch module, every named module's output shape with PyTorch's (the names come back
from the file), totals at 224x224 with torchvision's published figures, and `cnncalc run`
on the file with onnxruntime's output on the same input (float32, relative 1e-4).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import cnncalc  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from cnncalc.cli import main  # noqa: E402
from cnncalc.forward import runner  # noqa: E402
from zoo_torch import MobileNetV2, resnet18  # noqa: E402


# -- models torchvision has, and the patterns the issue names ----------------------------------
class Fire(nn.Module):  # torchvision/models/squeezenet.py
    def __init__(self, inplanes, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet11(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), pool(), Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class Block(nn.Module):
    def __init__(self, inp, out):
        super().__init__()
        self.conv = nn.Conv2d(inp, out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class SmallUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1, self.down2, self.bottom = Block(3, 8), Block(8, 16), Block(16, 32)
        self.up2, self.dec2 = nn.ConvTranspose2d(32, 16, 2, 2), Block(32, 16)
        self.up1, self.dec1 = nn.ConvTranspose2d(16, 8, 3, 2, padding=1, output_padding=1), Block(16, 8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        b = self.bottom(F.avg_pool2d(d2, 2))
        u2 = self.dec2(torch.cat([self.up2(b), d2], 1))
        return self.head(self.dec1(torch.cat([d1, self.up1(u2)], 1)))


class SegHead(nn.Module):
    """A segmentation head: features at 1/8, upsampled back by Resize (bilinear, then
    nearest), with a reflect Pad, a hardswish/hardsigmoid squeeze-excitation gate
    (GlobalAveragePool, broadcasting Mul), Split and Concat, a Slice (crop), a ReduceMean, a LayerNorm, a Linear on 3 axes
    (MatMul + Add), a view(x.size(0), -1) (Shape -> Gather -> Concat -> Reshape) and Softmax."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.pad = nn.ReflectionPad2d(1)
        self.body = nn.Conv2d(16, 24, 3, 2)
        self.act = nn.Hardswish()
        self.gate = nn.Sequential(nn.Conv2d(24, 24, 1), nn.Hardsigmoid())
        self.deep = nn.Conv2d(24, 24, 3, 2, 1, groups=24)
        self.classes = nn.Conv2d(24, 5, 1)
        self.norm = nn.LayerNorm(5)
        self.proj = nn.Linear(5, 6)

    def forward(self, x):
        y = self.act(self.body(self.pad(F.relu6(self.stem(x)))))
        first, second = y.split([10, 14], 1)  # Split, then Concat: a channel shuffle
        y = torch.cat([second, first], 1)
        y = y * self.gate(F.adaptive_avg_pool2d(y, 1))
        up = F.interpolate(self.deep(y), scale_factor=4.0, mode="bilinear", align_corners=False)
        up = up[:, :, 2:-2, 1:]  # Slice: a crop
        near = F.interpolate(self.classes(up), scale_factor=2.0, mode="nearest")
        pooled = near.mean((2, 3), keepdim=True)
        z = self.proj(self.norm(pooled.reshape(pooled.size(0), 1, 5)))
        return torch.softmax(z.view(z.size(0), -1), 1)


MODELS = {
    "resnet18": resnet18,
    "mobilenetv2": MobileNetV2,
    "squeezenet1_1": SqueezeNet11,
    "unet": SmallUNet,
    "seghead": SegHead,
}
PUBLISHED = {  # torchvision's num_params and _ops (GMACs) at 224x224
    "resnet18": (11_689_512, 1.814),
    "mobilenetv2": (3_504_872, 0.301),
    "squeezenet1_1": (1_235_496, 0.349),
}
SMALL = (3, 64, 64)


def randomise(model: nn.Module) -> nn.Module:
    """Distinct running statistics (fresh ones are all ones and zeros, which the exporter
    shares between layers) so every layer's own values are read."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (torch model, path of its ONNX file with free batch, height and width)."""
    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    result = {}
    for name, build in MODELS.items():
        model = randomise(build())
        path = folder / f"{name}.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, torch.zeros(1, *SMALL), path, dynamo=False, opset_version=17,
                              training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                              input_names=["x"], dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
        result[name] = (model, path)
    return result


def onnxruntime_output(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def cnncalc_output(net, x):
    summary = cnncalc.summary(net, x.shape[0])
    outcome = runner.run(net, summary, batch=x.shape[0], dtype="float32", seed=0, weights={}, data=x,
                         data_location=None, keep=False)
    assert outcome.ok and not outcome.random_weights
    return outcome.output


@pytest.mark.parametrize("name", MODELS)
def test_params_and_shapes_equal_pytorch(exported, name):
    model, path = exported[name]
    net = cnncalc.load(path, input_shape=SMALL)
    summary = cnncalc.summary(net)
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for key, b in model.named_buffers() if key.endswith(("running_mean", "running_var")))
    assert summary.totals.running_stats == stats
    # The names come back from the file: each module cnncalc names has PyTorch's output shape.
    rows = {row.name: row for row in summary.layers}
    seen = {}
    hooks = [module.register_forward_hook(lambda m, i, o, key=key: seen.__setitem__(key, tuple(o.shape[1:])))
             for key, module in model.named_modules() if key in rows]
    with torch.no_grad():
        output = model(torch.zeros(1, *SMALL))
    for hook in hooks:
        hook.remove()
    assert len(seen) >= len([n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    for key, got in seen.items():
        assert rows[key].output_shape == got, key
    assert summary.layers[-1].output_shape == tuple(output.shape[1:])


@pytest.mark.parametrize("name", MODELS)
def test_run_equals_onnxruntime(exported, name):
    _, path = exported[name]
    x = np.random.default_rng(1).standard_normal((2, *SMALL)).astype(np.float32)
    expected = onnxruntime_output(path, x)
    got = cnncalc_output(cnncalc.load(path, input_shape=SMALL), x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


@pytest.mark.parametrize("name", PUBLISHED)
def test_totals_at_224_are_torchvisions(exported, name):
    params, gmacs = PUBLISHED[name]
    summary = cnncalc.summary(cnncalc.load(exported[name][1], input_shape=(3, 224, 224)))
    assert summary.totals.params == params
    assert round(summary.totals.macs / 1e9, 3) == gmacs


def test_depth_folds_the_module_structure(exported):
    from cnncalc.analysis.summary import fold

    summary = cnncalc.summary(cnncalc.load(exported["resnet18"][1], input_shape=SMALL))
    top = [row.name for row in fold(summary, 0)]
    assert top == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]
    assert sum(row.params for row in fold(summary, 0)) == summary.totals.params


@pytest.mark.parametrize("target", ["yaml", "dsl"])
def test_import_round_trip_gives_the_same_totals_and_outputs(exported, tmp_path, target):
    _, path = exported["squeezenet1_1"]
    weights = tmp_path / "w.npz"
    done = CliRunner().invoke(main, ["import", str(path), "--to", target, "--input", "3x64x64", "--weights", str(weights)])
    assert done.exit_code == 0, done.output
    assert "weight" not in done.output  # the weights go to the .npz, the text stays readable
    net = cnncalc.loads(done.output, format=target)
    original = cnncalc.load(path, input_shape=SMALL)
    assert cnncalc.summary(net).to_dict()["totals"] == cnncalc.summary(original).to_dict()["totals"]
    x = np.random.default_rng(2).standard_normal((1, *SMALL)).astype(np.float32)
    summary = cnncalc.summary(net)
    outcome = runner.run(net, summary, batch=1, dtype="float32", seed=0, weights=dict(np.load(weights)), data=x,
                         data_location=None, keep=False)
    np.testing.assert_allclose(outcome.output, cnncalc_output(original, x), rtol=1e-5, atol=1e-6)


def test_without_the_onnx_package_the_message_names_the_extra(monkeypatch, exported):
    monkeypatch.setitem(sys.modules, "onnx", None)  # what `import onnx` meets when it is not installed
    done = CliRunner().invoke(main, ["summary", str(exported["unet"][1]), "--input", "3x64x64"])
    assert done.exit_code == 2
    assert "pip install 'cnncalc[onnx]'" in done.output


def test_control_flow_and_unsupported_operators_are_located_errors():
    """tests/bad holds one case per kind (their messages are checked by test_errors.py);
    here: each names its node and operator at the node's position in the file."""
    for case, line, node in (("onnx-loop", 2, "'/repeat/Loop' (Loop)"), ("onnx-unsupported-operator", 2, "'/diff/Sub' (Sub)")):
        done = CliRunner().invoke(main, ["summary", f"tests/bad/{case}.onnx"])
        assert done.exit_code == 2
        assert done.output.startswith(f"tests/bad/{case}.onnx:{line}:1: error: node {node}: ")
        assert "supported: Add, AveragePool, BatchNormalization" in done.output


# -- ONNX out ----------------------------------------------------------------------------------
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Every example that runs in well under a second (the 224x224 ones are checked by
# benchmarks-sized runs, see the report): both layouts, depthwise, padding, upsampling,
# chunk/concat, several inputs, softmax.
EXPORTED = ["lenet5.yaml", "keras-mnist.yaml", "tiny-resnet.yaml", "fpn.yaml", "siamese.yaml", "mobilenetv2-transfer.yaml",
            "homework/softmax.yaml", "homework/maxpool.yaml"]
SMALLER = {"mobilenetv2-transfer.yaml": (64, 64, 3)}  # 224x224 takes seconds; the layers are the same


def run_both(net, path, batch=2, weights=None):
    """(onnxruntime's output of the file at path, cnncalc run's) on one random input."""
    rng = np.random.default_rng(3)
    x = {name: rng.standard_normal((batch, *shape)).astype(np.float32) for name, shape in net.inputs.items()}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, x)
    summary = cnncalc.summary(net, batch)
    outcome = runner.run(net, summary, batch=batch, dtype="float32", seed=0, weights=weights or {},
                         data=x["input"] if net.single_input else x, data_location=None, keep=False)
    ours = outcome.output if isinstance(outcome.output, (tuple, list)) else [outcome.output]
    return theirs, list(ours)


@pytest.mark.parametrize("name", EXPORTED)
def test_export_runs_in_onnxruntime_as_cnncalc_run(name, tmp_path):
    out = tmp_path / "model.onnx"
    args = ["export", str(EXAMPLES / name), "--to", "onnx", "-o", str(out)]
    net = cnncalc.load(EXAMPLES / name, input_shape=SMALLER.get(name))
    if name in SMALLER:
        args += ["--input", "x".join(map(str, SMALLER[name]))]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    model = onnx.load(out)
    assert model.opset_import[0].version >= 13
    names = {node.name.split("/")[1] for node in model.graph.node}
    assert names == {node.name for node in net.nodes}  # every node sits under its layer's name
    theirs, ours = run_both(net, out)
    assert len(theirs) == len(ours) == len(net.outputs)
    for a, b in zip(theirs, ours):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max()))


def test_export_with_weights_and_back_through_import(exported, tmp_path):
    """ONNX -> cnncalc -> ONNX: the U-Net's own weights, written to an .npz by import and
    given back with --weights, give onnxruntime the same output on both files."""
    _, source = exported["unet"]
    text, weights, out = tmp_path / "unet.yaml", tmp_path / "w.npz", tmp_path / "again.onnx"
    done = CliRunner().invoke(main, ["import", str(source), "--input", "3x64x64", "--weights", str(weights)])
    assert done.exit_code == 0, done.output
    text.write_text(done.output)
    done = CliRunner().invoke(main, ["export", str(text), "--to", "onnx", "-o", str(out), "--weights", str(weights)])
    assert done.exit_code == 0, done.output
    x = np.random.default_rng(4).standard_normal((1, *SMALL)).astype(np.float32)
    np.testing.assert_allclose(onnxruntime_output(out, x), onnxruntime_output(source, x), rtol=1e-4, atol=1e-5)
    model = onnx.load(out)
    assert {"down1.conv.weight", "up2.weight", "head.bias"} <= {t.name for t in model.graph.initializer}  # PyTorch's names


def test_exporting_an_imported_model_keeps_its_weights(exported, tmp_path):
    _, source = exported["seghead"]
    out = tmp_path / "again.onnx"
    done = CliRunner().invoke(main, ["export", str(source), "--to", "onnx", "-o", str(out), "--input", "3x64x64"])
    assert done.exit_code == 0, done.output
    x = np.random.default_rng(5).standard_normal((2, *SMALL)).astype(np.float32)
    np.testing.assert_allclose(onnxruntime_output(out, x), onnxruntime_output(source, x), rtol=1e-4, atol=1e-6)


def test_readme_onnx_examples_are_real_runs():
    readme = (EXAMPLES.parent / "README.md").read_text()
    blocks = re.findall(r"```text\n(.*?)```", readme, re.DOTALL)
    shown = [b for b in blocks if b.startswith("small-resnet: input")]
    assert len(shown) == 1
    done = CliRunner().invoke(main, ["summary", "examples/small-resnet.onnx", "--depth", "1"])
    assert [line.rstrip() for line in shown[0].strip().splitlines()] == [line.rstrip() for line in done.stdout.strip().splitlines()]
    imported = [b for b in blocks if b.startswith("name small-resnet")]
    assert len(imported) == 1
    done = CliRunner().invoke(main, ["import", "examples/small-resnet.onnx", "--to", "dsl"])
    assert done.stdout.startswith(imported[0])


def test_the_shipped_example_equals_onnxruntime():
    path = EXAMPLES / "small-resnet.onnx"
    assert path.stat().st_size < 200 * 1024
    x = np.random.default_rng(6).standard_normal((3, 3, 32, 32)).astype(np.float32)
    expected = onnxruntime_output(path, x)
    np.testing.assert_allclose(cnncalc_output(cnncalc.load(path), x), expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


def test_export_without_the_onnx_package_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    done = CliRunner().invoke(main, ["export", "examples/lenet5.yaml", "--to", "onnx", "-o", str(tmp_path / "x.onnx")])
    assert done.exit_code == 2
    assert "pip install 'cnncalc[onnx]'" in done.output
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("name", ["lenet5.yaml", "tiny-resnet.yaml", "fpn.yaml", "siamese.yaml"])
def test_export_then_read_back_gives_the_same_totals(name, tmp_path):
    """cnncalc -> ONNX -> cnncalc: the same parameters (shared weights counted once), MACs,
    FLOPs and output shapes (a global pool without its size-1 axes comes back as the pool
    and a Flatten)."""
    out = tmp_path / "model.onnx"
    done = CliRunner().invoke(main, ["export", str(EXAMPLES / name), "--to", "onnx", "-o", str(out)])
    assert done.exit_code == 0, done.output
    before = cnncalc.summary(cnncalc.load(EXAMPLES / name)).to_dict()
    after = cnncalc.summary(cnncalc.load(out)).to_dict()
    keys = ("params", "trainable_params", "running_stats", "macs", "flops")  # memory: a layer may become two
    assert {k: after["totals"][k] for k in keys} == {k: before["totals"][k] for k in keys}
    assert after["layers"][-1]["output_shape"] == before["layers"][-1]["output_shape"]
    shapes = {row["name"]: row["output_shape"] for row in after["layers"]}
    written = [row for row in before["layers"] if row["type"] != "global_avgpool"]  # see above
    assert all(shapes[row["name"]] == row["output_shape"] for row in written)  # the names are kept
