"""ONNX files in (section 10), the families beyond tests/test_onnx.py's: EfficientNet-B0
(SiLU written as x * sigmoid(x), squeeze-excitation gates), DenseNet-121 (concatenations),
ShuffleNetV2 (torch.chunk as Slices, the channel shuffle as Reshape -> Transpose -> Reshape),
ConvNeXt-Tiny (Transpose, LayerNormalization, Linear as MatMul + Add, GELU written out with
Erf, the layer scale as a Mul by a weight) and a decoder head (Resize bilinear with
align_corners, bicubic, GELU's tanh form, a channel slice, fixed numbers added, multiplied,
subtracted and divided by).

Each is exported once (at 32x32: the trace is the slow part; the height and width stay free)
and read at 64x64, then required to agree with PyTorch and onnxruntime: parameters and
running statistics, MACs with torch's FlopCounterMode, every named module's output shape,
the layers the patterns become with the modules that wrote them, and `cnncalc run` with
onnxruntime's output (float32, relative 1e-4). At 224x224 the totals are torchvision's
published figures. Then: `import` to YAML and DSL and back, a file exported with
torch.onnx.export's defaults, and small graphs built by hand with the forms other exporters
write (GELU by multiplying, x^3 by Pow, x * HardSigmoid(x), LpPool, ReduceMax).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import cnncalc  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from cnncalc.cli import main  # noqa: E402
from cnncalc.forward import runner  # noqa: E402
from zoo_torch import ConvNeXtTiny, EfficientNetB0  # noqa: E402
from zoo_torch_more import densenet121, shufflenet_v2_x0_5  # noqa: E402


class Decoder(nn.Module):
    """A segmentation decoder: the input normalised per channel ((x - mean) / std), GELU (tanh
    form), LayerNorm over the channels between two permutes, bilinear upsampling with
    align_corners=True, a slice of the channels, fixed numbers (one, and one per channel)
    multiplied, added, subtracted from and divided by, bicubic upsampling to a size."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1)
        self.mid = nn.Conv2d(8, 8, 3, 2, 1)
        self.act = nn.GELU(approximate="tanh")
        self.norm = nn.LayerNorm(8)
        self.head = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        y = self.act(self.mid(self.stem(x)))
        y = self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=True)
        y = (1.0 - (y[:, 2:6] * 0.5 + torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 4, 1, 1))) / 3.0
        return F.interpolate(self.head(y), size=(x.shape[2], x.shape[3]), mode="bicubic", align_corners=False)


class Extras(nn.Module):
    """PReLU (one slope per channel, applied twice: one weight; and one slope in all), SELU, InstanceNorm2d with its affine
    weights, GroupNorm (exported as Reshape -> InstanceNormalization -> Reshape -> Mul -> Add),
    PixelShuffle (DepthToSpace) and log_softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.prelu = nn.PReLU(8)
        self.selu = nn.SELU()
        self.instance = nn.InstanceNorm2d(8, affine=True)
        self.group = nn.GroupNorm(2, 8)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu1 = nn.PReLU()

    def forward(self, x):
        y = self.prelu(self.group(self.instance(self.selu(self.prelu(self.conv(x))))))  # one PReLU, applied twice
        return torch.log_softmax(self.prelu1(self.shuffle(y)).mean((2, 3)), 1)


MODELS = {
    "efficientnet_b0": EfficientNetB0,
    "densenet121": densenet121,
    "shufflenet_v2_x0_5": shufflenet_v2_x0_5,
    "convnext_tiny": ConvNeXtTiny,
    "decoder": Decoder,
    "extras": Extras,
}
PUBLISHED = {  # torchvision's num_params and _ops (GMACs) at 224x224
    "efficientnet_b0": (5_288_548, 0.386),
    "densenet121": (7_978_856, 2.834),
    "shufflenet_v2_x0_5": (1_366_792, 0.04),
    "convnext_tiny": (28_589_128, 4.456),
}
# The layers that patterns of nodes become, one per module that wrote the pattern.
PATTERNS = {"silu": nn.SiLU, "gelu": nn.GELU}
SMALL = (3, 64, 64)


def randomise(model: nn.Module) -> nn.Module:
    """Every weight and running statistic its own values: fresh ones (LayerNorm's ones,
    ConvNeXt's layer scale of 1e-6) are equal between layers, which the exporter then
    stores once, and a layer scale of 1e-6 would hide its block from the output."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if p.numel() > 1 and float(p.std()) > 0:
                p.mul_(1 + 0.1 * noise)
            else:  # constant at creation: a scale near 1, a shift near 0
                p.copy_((1.0 if name.endswith(("weight", "layer_scale")) else 0.0) + 0.1 * noise)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (torch model, path of its ONNX file with free batch, height and width). The
    files are written once for all pytest-xdist workers (in their shared temporary folder,
    under a lock): each worker builds the same seeded models, the first exports them."""
    from filelock import FileLock  # a dependency of torch

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # popen-gwN: the parent is this run's, shared by its workers
        root = root.parent
    folder = root / "onnx-import"
    folder.mkdir(exist_ok=True)
    result = {}
    for name, build in MODELS.items():
        torch.manual_seed(0)
        model = randomise(build())
        path = folder / f"{name}.onnx"
        with FileLock(str(path) + ".lock"):
            if not path.exists():
                export(model, path)
        result[name] = (model, path)
    return result


def export(model, path):
    partial = path.with_suffix(".part")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, 32, 32), partial, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          input_names=["x"], dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    partial.rename(path)


@pytest.mark.parametrize("name", MODELS)
def test_params_macs_and_shapes_equal_pytorch(exported, name):
    model, path = exported[name]
    summary = cnncalc.summary(cnncalc.load(path, input_shape=SMALL))
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for key, b in model.named_buffers() if key.endswith(("running_mean", "running_var")))
    assert summary.totals.running_stats == stats
    rows = {row.name: row for row in summary.layers}
    seen = {}
    hooks = [module.register_forward_hook(lambda m, i, o, key=key: seen.__setitem__(key, tuple(o.shape[1:])))
             for key, module in model.named_modules() if key in rows]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        output = model(torch.zeros(1, *SMALL))
    for hook in hooks:
        hook.remove()
    assert summary.totals.macs * 2 == counter.get_total_flops()  # multiply-accumulates: 2 FLOPs each
    layers = [key for key, m in model.named_modules() if type(m) in (nn.Conv2d, nn.Linear, nn.LayerNorm, nn.BatchNorm2d)]
    assert set(layers) <= set(seen)  # the names come back from the file
    for key, got in seen.items():
        assert rows[key].output_shape == got, key
    assert summary.layers[-1].output_shape == tuple(output.shape[1:])
    for kind, module in PATTERNS.items():  # a written-out activation is one layer, named as its module
        written = sorted(key for key, m in model.named_modules() if isinstance(m, module))
        assert sorted(row.name for row in summary.layers if row.type == kind) == written


def test_the_channel_shuffle_and_the_chunks_are_layers_of_their_own(exported):
    """ShuffleNet's channel_shuffle (a function, no module) is one layer per unit; each
    unit of stride 1 splits its input in two with torch.chunk, read as one split."""
    model, path = exported["shufflenet_v2_x0_5"]
    rows = cnncalc.summary(cnncalc.load(path, input_shape=SMALL)).layers
    units = [key for key, m in model.named_modules() if type(m).__name__ == "ShuffleUnit"]
    assert sorted(r.name for r in rows if r.type == "channel_shuffle") == sorted(f"{u}.channel_shuffle" for u in units)
    chunked = [u for u in units if model.get_submodule(u).stride == 1]
    assert len([r for r in rows if r.type == "split"]) == len(chunked)


@pytest.mark.parametrize("name", MODELS)
def test_run_equals_onnxruntime(exported, name):
    _, path = exported[name]
    x = np.random.default_rng(1).standard_normal((1, *SMALL)).astype(np.float32)  # batches: tests/test_onnx.py
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x})[0]
    net = cnncalc.load(path, input_shape=SMALL)
    outcome = runner.run(net, cnncalc.summary(net), batch=1, dtype="float32", seed=0, weights={}, data=x,
                         data_location=None, keep=False)
    assert outcome.ok and not outcome.random_weights
    assert outcome.output.shape == expected.shape
    np.testing.assert_allclose(outcome.output, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


def test_the_command_line_run_saves_onnxruntimes_output(exported, tmp_path):
    _, path = exported["decoder"]
    x = np.random.default_rng(2).standard_normal((1, *SMALL)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    done = CliRunner().invoke(main, ["run", str(path), "--input", "3x64x64", "--data", str(tmp_path / "x.npy"),
                                     "--save", str(tmp_path / "out.npz")])
    assert done.exit_code == 0, done.output
    assert "all shapes as computed" in done.stdout
    saved = np.load(tmp_path / "out.npz")
    last = cnncalc.summary(cnncalc.load(path, input_shape=SMALL)).layers[-1].name
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(saved[last], expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


@pytest.mark.parametrize("name", PUBLISHED)
def test_totals_at_224_are_torchvisions(exported, name):
    params, gmacs = PUBLISHED[name]
    summary = cnncalc.summary(cnncalc.load(exported[name][1], input_shape=(3, 224, 224)))
    assert summary.totals.params == params
    assert round(summary.totals.macs / 1e9, 3) == gmacs


@pytest.mark.parametrize(("name", "target"), [("shufflenet_v2_x0_5", "yaml"), ("shufflenet_v2_x0_5", "dsl"),
                                            ("decoder", "yaml"), ("decoder", "dsl"), ("convnext_tiny", "dsl")])
def test_import_round_trip_gives_the_same_totals_and_outputs(exported, tmp_path, name, target):
    """The imported text (permutes, layer scales, rescalings, a split's parts named
    stage2.1.slice.1, channel shuffles) reads back to the same totals, and with the weights
    import wrote, the same output."""
    _, path = exported[name]
    weights = tmp_path / "w.npz"
    done = CliRunner().invoke(main, ["import", str(path), "--to", target, "--input", "3x64x64", "--weights", str(weights)])
    assert done.exit_code == 0, done.output
    net, original = cnncalc.loads(done.output, format=target), cnncalc.load(path, input_shape=SMALL)
    assert cnncalc.summary(net).to_dict()["totals"] == cnncalc.summary(original).to_dict()["totals"]
    if name == "convnext_tiny":
        return  # its forward takes a second; its layers are the decoder's and the shapes' above
    x = np.random.default_rng(4).standard_normal((1, *SMALL)).astype(np.float32)
    outputs = [runner.run(n, cnncalc.summary(n), batch=1, dtype="float32", seed=0, weights=w, data=x, data_location=None,
                          keep=False).output for n, w in ((net, dict(np.load(weights))), (original, {}))]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)


def test_a_file_exported_with_the_defaults_is_read_as_written(tmp_path):
    """torch.onnx.export's defaults fold each batch norm into its convolution and the shape
    arithmetic into initializers, at a fixed input size: cnncalc counts the file's weights
    (every float initializer is a layer's), PyTorch's MACs, and runs as onnxruntime does."""
    torch.manual_seed(0)
    model, path = randomise(shufflenet_v2_x0_5()), tmp_path / "default.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, 32, 32), path, dynamo=False, input_names=["x"])
    stored = onnx.load(path)
    floats = sum(int(np.prod(t.dims)) for t in stored.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    net = cnncalc.load(path)
    summary = cnncalc.summary(net)
    assert summary.totals.params == floats and summary.totals.running_stats == 0
    assert [row.type for row in summary.layers].count("channel_shuffle") == 16
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    assert summary.totals.macs * 2 == counter.get_total_flops()
    x = np.random.default_rng(5).standard_normal((1, 3, 32, 32)).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    outcome = runner.run(net, summary, batch=1, dtype="float32", seed=0, weights={}, data=x, data_location=None, keep=False)
    np.testing.assert_allclose(outcome.output, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


# -- the patterns as other exporters write them -----------------------------------------------
def hand_built(nodes, constants, outputs=None):
    """A model of one 3x5x5 input x and the nodes given, its output the last node's."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.asarray(v, dtype=np.int64 if k == "axes" else np.float32), k)
             for k, v in constants.items()]
    results = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs or [nodes[-1].output[0]]]
    graph = helper.make_graph(nodes, "pattern", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 5, 5])],
                              results, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def steps(*specs):
    """Nodes from (operator, inputs, output[, attributes])."""
    from onnx import helper

    return [helper.make_node(op, inputs, [out], name=f"/act/{op}_{i}", **(rest[0] if rest else {}))
            for i, (op, inputs, out, *rest) in enumerate(specs)]


HAND_BUILT = {  # name: (nodes, constants, the one layer they are (or the layers), its approximate)
    "gelu-erf-by-multiplying": (steps(("Mul", ["x", "r"], "a"), ("Erf", ["a"], "b"), ("Add", ["one", "b"], "c"),
                                      ("Mul", ["c", "half"], "d"), ("Mul", ["x", "d"], "y")),
                                {"r": 2 ** -0.5, "one": 1.0, "half": 0.5}, "gelu", "none"),
    "gelu-tanh-with-pow": (steps(("Pow", ["x", "three"], "a"), ("Mul", ["a", "k"], "b"), ("Add", ["x", "b"], "c"),
                                 ("Mul", ["c", "s"], "d"), ("Tanh", ["d"], "e"), ("Add", ["e", "one"], "f"),
                                 ("Mul", ["f", "x"], "g"), ("Mul", ["g", "half"], "y")),
                           {"three": 3.0, "k": 0.044715, "s": (2 / np.pi) ** 0.5, "one": 1.0, "half": 0.5}, "gelu", "tanh"),
    "silu-gate-first": (steps(("Sigmoid", ["x"], "s"), ("Mul", ["s", "x"], "y")), {}, "silu", None),
    "hardswish-written-out": (steps(("HardSigmoid", ["x"], "s", {"alpha": 1 / 6, "beta": 0.5}), ("Mul", ["x", "s"], "y")),
                              {}, "hardswish", None),
    # and operators torch.onnx.export does not write for these layers
    "lppool-p2": (steps(("LpPool", ["x"], "y", {"p": 2, "kernel_shape": [2, 2], "strides": [2, 2]})), {}, "lppool2d", None),
    "lppool-p4-overlapping": (steps(("LpPool", ["x"], "y", {"p": 4, "kernel_shape": [3, 3]})), {}, "lppool2d", None),
    "reducemax-spatial": (steps(("ReduceMax", ["x"], "y", {"axes": [2, 3], "keepdims": 0})), {}, "global_maxpool", None),
    "unsqueeze": (steps(("Unsqueeze", ["x", "axes"], "y")), {"axes": [-2]}, "reshape", None),
    "squeeze-after-pooling": (steps(("GlobalAveragePool", ["x"], "p"), ("Squeeze", ["p", "axes"], "y")), {"axes": [3, 2]},
                              ["global_avgpool", "flatten"], None),
}


@pytest.mark.parametrize("name", HAND_BUILT)
def test_what_other_exporters_write_is_read_as_its_layer(name, tmp_path):
    nodes, constants, kind, approximate = HAND_BUILT[name]
    path = tmp_path / f"{name}.onnx"
    onnx.save(hand_built(nodes, constants), path)
    net = cnncalc.load(path)
    assert [row.type for row in cnncalc.summary(net).layers] == (kind if isinstance(kind, list) else [kind])
    if approximate:
        assert net.nodes[0].layer["approximate"] == approximate
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 5)).astype(np.float32) * 3
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    outcome = runner.run(net, cnncalc.summary(net, 2), batch=2, dtype="float32", seed=0, weights={}, data=x,
                         data_location=None, keep=False)
    np.testing.assert_allclose(outcome.output, expected, rtol=1e-4, atol=1e-5)


def test_a_pattern_whose_step_is_read_elsewhere_stays_its_operators(tmp_path):
    """x * sigmoid(x) where sigmoid(x) is also an output of the model is not folded: the
    sigmoid's value is needed on its own."""
    path = tmp_path / "both.onnx"
    onnx.save(hand_built(steps(("Sigmoid", ["x"], "s"), ("Mul", ["x", "s"], "y")), {}, outputs=["s", "y"]), path)
    assert [row.type for row in cnncalc.summary(cnncalc.load(path)).layers] == ["sigmoid", "multiply"]
