"""`cnncalc train` against PyTorch: what autograd keeps (saved_tensors_hooks), gradient and
optimizer-state bytes after one step, and backward FLOPs of convolutions and linear layers
(FlopCounterMode), on the example networks (small inputs, batch 2) and the differential
random networks, in fp32, amp-bf16 (torch.autocast on the CPU) and bf16. The PyTorch
models are cnncalc's own export (tests/saved_oracle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import cnncalc
from cnncalc.analysis import analyse
from cnncalc.analysis.training import train
from cnncalc.layers import REGISTRY
from cnncalc.layers.base import Grads
from differential import case
from saved_oracle import measure, plain_layers

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"vgg16": "3x32x32", "alexnet": "3x64x64", "resnet50": "3x32x32", "resnet18": "3x32x32", "densenet121": "3x32x32",
         "efficientnet-b0": "3x32x32", "googlenet": "3x32x32", "mobilenetv2": "3x32x32", "mobilenetv2-transfer": "64x64x3",
         "keras-resnet50": "32x32x3", "fpn": "3x64x64", "convnext-tiny": "3x32x32", "deeplabv3": "3x32x32",
         "mobilenetv3-large": "32x32x3", "efficientnetb0-keras": "32x32x3"}
SLOW = {"unet", "shufflenetv2", "alexnet", "vgg16", "densenet121", "resnet50", "keras-resnet50"}  # time: their kinds of layer are in the others
# Each example once in amp-bf16 (autocast's casts are where the rules differ most), a few in
# every precision; bf16 depthwise convolutions are slow on the CPU, so those run in fp32.
PRECISIONS = {"tiny-resnet": ("fp32", "amp-bf16", "bf16"), "keras-mnist": ("fp32", "amp-bf16", "bf16"),
              "mobilenetv2-transfer": ("fp32", "amp-bf16"), "efficientnet-b0": ("fp32",), "mobilenetv2": ("fp32",),
              "convnext-tiny": ("fp32",), "mobilenetv3-large": ("fp32",), "efficientnetb0-keras": ("fp32",)}
EXAMPLES = [p for p in sorted((ROOT / "examples").glob("*.yaml")) if p.stem not in SLOW]


def small(path: Path):
    net = cnncalc.load(path)
    return cnncalc.load(path, input_shape=SMALL[net.name]) if net.name in SMALL else net


def agree(net, precision: str, optimizer: str = "adam", batch: int = 2) -> None:
    # FlopCounterMode ignores groups in convolution_backward (see the README): grouped
    # convolutions are left out of the FLOPs comparison
    grouped = any(node.layer.values.get("groups", 1) != 1 or "depthwise" in node.layer.type_name or "separable" in node.layer.type_name
                  for node in net.nodes)
    ours = train(net, batch, optimizer, precision)
    theirs = measure(net, batch, precision, optimizer, flops=not grouped)
    plain = plain_layers(net)
    for row in ours.layers:  # a layer that is exactly its module: its own storages
        if row.name in plain:
            assert row.saved_bytes == sum(theirs.saved[k][0] for k in theirs.by_layer.get(row.name, ())), (net.name, row.name)
    rest = {key: size for row in ours.layers if row.name not in plain for key, size in row.kept}
    assert sum(rest.values()) == sum(theirs.saved[k][0] for k in theirs.outside), net.name
    assert ours.totals.saved_bytes == sum(size for size, _ in theirs.saved.values()), net.name
    assert ours.totals.gradients_bytes == theirs.gradient_bytes
    assert ours.totals.optimizer_bytes == theirs.optimizer_bytes
    assert ours.totals.weights_bytes == theirs.weight_bytes
    if not grouped:
        rows = {row.name: row for row in analyse(net).layers}
        assert sum(r.backward_flops for r in ours.layers if rows[r.name].macs) == theirs.backward_flops, net.name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_an_example_keeps_what_pytorch_keeps(path):
    net = small(path)
    for precision in PRECISIONS.get(path.stem, ("amp-bf16",)):
        agree(net, precision, "adamw" if precision == "amp-bf16" else "adam")


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_optimizer_state_is_what_torch_optim_creates(optimizer):
    agree(cnncalc.load(ROOT / "examples/lenet5.yaml"), "fp32", optimizer)


def test_random_networks_keep_what_pytorch_keeps():
    checked = 0
    for seed in range(24):
        try:
            net = cnncalc.loads(case(seed).text, format="yaml", path="case.yaml")
            analyse(net)
        except cnncalc.CnnError:  # a case both reject (tests/test_differential.py checks that)
            continue
        agree(net, ("fp32", "amp-bf16", "bf16", "amp-fp16")[seed % 4])
        checked += 1
    assert checked >= 10


def test_frozen_layers_before_the_first_trainable_one_keep_nothing():
    text = yaml.safe_dump({"input": [3, 16, 16], "layers": [
        {"conv2d": {"out": 8, "kernel": 3}, "trainable": False}, "relu", {"conv2d": {"out": 8, "kernel": 3}, "trainable": False},
        "batchnorm", "relu", "flatten", {"linear": 10}]}, sort_keys=False)
    net = cnncalc.loads(text, format="yaml")
    step = train(net, 2)
    assert [r.saved_bytes for r in step.layers][:3] == [0, 0, 0] and step.layers[3].saved_bytes > 0
    agree(net, "fp32")


def test_every_layer_type_declares_what_it_keeps():
    """Each registered type has its own `saved` (an activation: its entry in the table its
    `saved` reads): a new type without one fails here, not silently with zero."""
    from cnncalc.layers.activation import Activation
    from cnncalc.layers.base import Layer

    missing = []
    for cls in REGISTRY.types:
        owner = next(k for k in cls.__mro__ if "saved" in k.__dict__)
        if owner is Layer or (owner is Activation and cls.type_name not in Activation.KEEPS):
            missing.append(cls.type_name)
    assert not missing, f"no saved-tensor declaration: {missing}"


def test_the_base_class_refuses_to_guess():
    from cnncalc.layers.base import Layer

    class Unknown(Layer):
        type_name = "unknown"

        def infer(self, shapes, layout): ...
        def forward(self, inputs, params, layout, owned=False): ...
        def torch(self, shapes, out, layout): ...
        def keras(self, shapes, out, layout): ...

    from cnncalc.layers.base import Where
    from cnncalc.errors import Location

    layer = Unknown("x", {}, Where(Location("f.yaml", 1, 1)))
    with pytest.raises(cnncalc.CnnError, match="does not know yet what PyTorch keeps"):
        layer.saved(((3,),), None, None, Grads((True,), False))


def test_summary_leaves_out_the_training_figure_for_an_undeclared_type(monkeypatch):
    """`summary` still works on a network with a type that has not declared what it keeps
    (its training figure is null); `train` refuses it with the reason."""
    from cnncalc.layers.activation import Activation

    monkeypatch.delitem(Activation.KEEPS, "gelu")
    net = cnncalc.loads("input 3x8x8 | conv2d 4 k=3 | gelu", format="dsl")
    assert cnncalc.summary(net).totals.training_bytes is None
    with pytest.raises(cnncalc.CnnError, match="backward pass of a gelu layer"):
        train(net)


def test_max_batch_is_the_largest_that_fits():
    net = cnncalc.load(ROOT / "examples/lenet5.yaml")
    limit = 4 * 2**20
    from cnncalc.analysis.training import fitting_batch

    step = fitting_batch(net, limit, "adam", "fp32")
    assert train(net, step.max_batch).totals.total_bytes <= limit < train(net, step.max_batch + 1).totals.total_bytes


@pytest.mark.parametrize("name", ["lenet5", "tiny-resnet", "resnet18", "mobilenetv2"])
def test_the_activation_peak_is_what_a_forward_pass_really_holds(name, monkeypatch):
    """`cnncalc run`'s forward pass (runner.execute) under tracemalloc. With every layer
    making a new output, as PyTorch's eager pass does (the summary's model), the activations
    the summary says are alive at once really are (the peak is at least that); the real
    pass, which works in place where nothing else reads the input, holds at most that and
    the layers' own workspaces."""
    import gc
    import tracemalloc

    import numpy as np

    from cnncalc.forward import runner

    net = cnncalc.load(ROOT / "examples" / f"{name}.yaml")
    if net.name in SMALL:
        net = cnncalc.load(ROOT / "examples" / f"{name}.yaml", input_shape="3x64x64")
    batch = 2
    summary = cnncalc.summary(net, batch, "float32")
    rng = np.random.default_rng(0)
    params, _, _ = runner.prepare_weights(summary, net, {}, np.float32, rng)
    x = rng.standard_normal((batch, *net.input_shape)).astype("float32")

    def measure() -> int:
        with np.errstate(all="ignore"):
            runner.execute(net, params, x)  # once before: the kernels' first-use tables are not activations
        gc.collect()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            with np.errstate(all="ignore"):
                runner.execute(net, params, x)
            return tracemalloc.get_traced_memory()[1] - start
        finally:
            tracemalloc.stop()

    real = measure()
    with monkeypatch.context() as patch:
        patch.setattr(runner, "shared", lambda *args: True)  # no input is ever overwritten
        new_outputs = measure()
    alive = summary.totals.activation_peak_bytes - x.nbytes  # the input was made before tracing
    # besides the activations, a layer's own workspace (a tile of gathered windows, a Winograd
    # band, several small samples' columns side by side): what `run`'s estimate adds to them
    workspaces = runner.forward_peak(summary, net, batch, 4, keep=False).bytes - summary.totals.activation_peak_bytes
    assert alive <= new_outputs <= 3 * alive + workspaces + runner.SCRATCH_BYTES
    assert real <= 3 * alive + workspaces + runner.SCRATCH_BYTES
    assert summary.totals.activation_peak_bytes < summary.totals.input_bytes + summary.totals.activation_bytes


def test_the_readme_shows_real_runs(monkeypatch):
    """The README's `train` examples: the first and last lines of the ResNet-50 run and
    the whole sweep, against fresh runs."""
    import re

    from click.testing import CliRunner

    from cnncalc.cli import main

    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text()
    texts = re.findall(r"```text\n(.*?)```", readme, re.DOTALL)

    def run(*args):
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    real = run("train", "examples/resnet50.yaml", "--memory", "24G", "--optimizer", "adamw", "--precision", "amp-bf16")
    (head,) = [t.splitlines() for t in texts if t.startswith("resnet50: one training step")]
    (tail,) = [t.splitlines() for t in texts if t.startswith("flatten_1              flatten")]
    assert real[: len(head)] == head and real[-len(tail):] == tail
    sweep = run("train", "examples/tiny-resnet.yaml", "--batch", "1,8,32,128", "--optimizer", "sgd")
    assert [t.splitlines() for t in texts if t.startswith("tiny-resnet: one training step by batch")] == [sweep]


def test_the_plot_is_an_svg_of_every_batch(tmp_path):
    from click.testing import CliRunner

    from cnncalc.cli import main

    out = tmp_path / "memory.svg"
    result = CliRunner().invoke(main, ["train", str(ROOT / "examples/lenet5.yaml"), "--batch", "1,8,32", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    circles = root.findall("{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 6  # total and saved at each of the three batches
    result = CliRunner().invoke(main, ["train", str(ROOT / "examples/lenet5.yaml"), "--memory", "8M", "--plot", str(out)])
    assert result.exit_code == 0 and "memory 8.00 MiB" in out.read_text()
