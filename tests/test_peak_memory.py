"""The peak-memory estimates against what NumPy really allocates, measured by tracemalloc
(NumPy reports every array it allocates to it).

`cnncalc run` refuses, before allocating anything, a run whose estimate is above
--max-memory; the estimate must therefore bound the real peak, and stay close enough to be
useful. Each case runs under tracemalloc and checks

- the whole run (`runner.run`: weights, input, forward pass) against `estimate_peak`,
- the forward pass alone (`runner.execute`, its input and weights made beforehand) against
  `forward_peak`, which holds each layer type to its own `Layer.workspace`,
- estimate <= LOOSENESS x measured + SLACK, so the bound is not vacuous,

for every layer type in the registry (tests/oracle.py's random single-layer cases, in both
layouts and both precisions), for the cases the issue named (transposed convolutions with
large strides, dilated convolutions with 'same', GELU, bilinear and bicubic upsampling,
softmax, pooling with padding), for the example networks at small inputs, and for
`rf --verify` (fieldcheck.estimate) with its hit matrices.
"""

from __future__ import annotations

import gc
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.errors import CnnError
from cnncalc.forward import fieldcheck, runner
from cnncalc.layers import REGISTRY
from oracle import family_of

ROOT = Path(__file__).resolve().parent.parent
LOOSENESS, SLACK = 3, 2**20  # estimate <= 3 x measured + 1 MiB
ITEMSIZE = {"float32": 4, "float64": 8}


def traced(action):
    """(action's result, the most bytes allocated above the start while it ran)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        result = action()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return result, peak


def network(spec: dict):
    return cnncalc.loads(yaml.safe_dump(spec, sort_keys=False), format="yaml", path="case.yaml")


def measure_run(net, batch: int, dtype: str) -> tuple[int, int]:
    """(estimate_peak, the peak tracemalloc saw) of runner.run on random weights and input."""
    summary = cnncalc.summary(net, batch, dtype)
    estimate = runner.estimate_peak(summary, net, batch, ITEMSIZE[dtype], keep=False).bytes
    options = dict(batch=batch, dtype=dtype, seed=0, weights={}, data=None, data_location=None, keep=False)
    result, peak = traced(lambda: runner.run(net, summary, **options))
    assert result.ok
    return estimate, peak


def measure_forward(net, batch: int, dtype: str) -> tuple[int, int]:
    """(forward_peak without its input, the peak tracemalloc saw) of runner.execute alone:
    the input and the weights are made before tracing starts."""
    summary = cnncalc.summary(net, batch, dtype)
    rng = np.random.default_rng(0)
    params, _, _ = runner.prepare_weights(summary, net, {}, runner.DTYPES[dtype], rng)
    x = runner.make_input(net, batch, None, runner.DTYPES[dtype], rng, None)
    estimate = runner.forward_peak(summary, net, batch, ITEMSIZE[dtype], keep=False).bytes - x.nbytes + runner.SCRATCH_BYTES
    with np.errstate(all="ignore"):
        _, peak = traced(lambda: runner.execute(net, params, x))
    return estimate, peak


def check(estimate: int, peak: int, what) -> None:
    assert estimate >= peak, f"{what}: estimated {estimate:,} B but the peak was {peak:,} B"
    assert estimate <= LOOSENESS * peak + SLACK, f"{what}: estimated {estimate:,} B for a peak of {peak:,} B"


def channels_last(spec: dict) -> dict:
    """The same network in channels_last: the input's channel axis moved to the end."""
    shape = spec["input"]
    return {**spec, "layout": "channels_last", "input": [*shape[1:], shape[0]] if len(shape) > 1 else shape}


@pytest.fixture(scope="module", autouse=True)
def warm():
    """Imports and NumPy's first-use caches allocate once; not a run's memory."""
    for dtype in ITEMSIZE:
        measure_run(network(NAMED["bicubic upsampling"]), 1, dtype)
        measure_run(network(NAMED["conv, gelu fused"]), 1, dtype)


def test_the_pass_that_measures_the_threads_stays_within_its_estimate(monkeypatch):
    """The first large piece of work measures a hand-over and one core's rate
    (kernels.parallel_bytes), in the middle of `cnncalc run`'s only pass: with arrays small
    enough for SCRATCH_BYTES (found in review: 1 MiB arrays put that pass 2.5 MB over)."""
    from cnncalc.layers import kernels

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "_costs", {})
    spec = {"input": [16, 64, 64], "layers": [{"conv2d": {"out": 16, "kernel": 3, "padding": 1, "activation": "silu"}}]}
    check(*measure_run(network(spec), 1, "float32"), spec)
    assert "bytes" in kernels._costs


# -- every layer type ------------------------------------------------------------------------


@pytest.mark.parametrize("cls", REGISTRY.types, ids=lambda c: c.type_name)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), last=st.booleans(), dtype=st.sampled_from(sorted(ITEMSIZE)), elements=st.integers(2**12, 2**17))
def test_every_layer_type_stays_within_its_estimate(cls, data, last, dtype, elements):
    shape, layers, _ = family_of(cls)(data.draw, cls)
    spec = {"input": shape, "layers": layers}
    try:
        net = network(channels_last(spec) if last else spec)
        cnncalc.summary(net)
    except CnnError:
        event("rejected")
        return
    batch = max(1, min(64, elements // math.prod(net.input_shape)))  # arrays of KBs to MBs
    check(*measure_run(net, batch, dtype), (cls.type_name, spec, batch, dtype, last))
    check(*measure_forward(net, batch, dtype), (cls.type_name, spec, batch, dtype, last))


# -- the cases the issue named, at sizes where the arrays dominate ---------------------------

NAMED = {
    "transposed conv, stride 2": {"input": [32, 96, 96], "layers": [{"conv_transpose2d": {"out": 32, "kernel": 4, "stride": 2, "padding": 1}}]},
    "transposed conv, stride 8": {"input": [16, 48, 48], "layers": [{"conv_transpose2d": {"out": 8, "kernel": 8, "stride": 8, "bias": False}}]},
    "transposed conv, stride 5, groups": {"input": [16, 4000], "layers": [{"conv_transpose1d": {"out": 16, "kernel": 7, "stride": 5, "groups": 2, "padding": 3, "output_padding": 2}}]},
    "transposed conv 3-D, stride 4": {"input": [4, 12, 12, 12], "layers": [{"conv_transpose3d": {"out": 4, "kernel": 4, "stride": 4, "activation": "relu"}}]},
    "dilation 20,000 with same": {"input": [3, 64, 64], "layers": [{"conv2d": {"out": 8, "kernel": 3, "dilation": 20000, "padding": "same"}}]},
    "dilation 6 with same, reflect": {"input": [16, 80, 80], "layers": [{"conv2d": {"out": 16, "kernel": 3, "dilation": 6, "padding": "same", "padding_mode": "reflect"}}]},
    "depthwise, dilation 3 with same": {"input": [32, 80, 80], "layers": [{"depthwise_conv2d": {"kernel": 3, "dilation": 3, "padding": "same", "multiplier": 2}}]},
    "separable, stride 2": {"input": [16, 80, 80], "layers": [{"separable_conv2d": {"out": 32, "kernel": 3, "stride": 2, "padding": 1, "activation": "silu"}}]},
    "conv, gelu fused": {"input": [16, 64, 64], "layers": [{"conv2d": {"out": 32, "kernel": 3, "padding": 1, "activation": "gelu"}}]},
    "gelu": {"input": [64, 64, 64], "layers": [{"conv2d": {"out": 64, "kernel": 1}}, "gelu"]},
    "gelu, tanh": {"input": [64, 64, 64], "layers": [{"conv2d": {"out": 64, "kernel": 1}}, {"gelu": {"approximate": "tanh"}}]},
    "bilinear upsampling": {"input": [16, 48, 48], "layers": [{"upsample": {"scale": 4, "mode": "bilinear"}}]},
    "bicubic upsampling": {"input": [16, 48, 48], "layers": [{"upsample": {"size": [150, 170], "mode": "bicubic", "align_corners": True}}]},
    "trilinear upsampling": {"input": [4, 16, 16, 16], "layers": [{"upsample": {"scale": 3, "mode": "trilinear"}}]},
    "softmax over channels": {"input": [64, 48, 48], "layers": [{"conv2d": {"out": 64, "kernel": 1}}, {"softmax": {"dim": 1}}]},
    "log_softmax over a row": {"input": [64, 48, 48], "layers": [{"conv2d": {"out": 64, "kernel": 1}}, {"log_softmax": {"dim": -1}}]},
    "max pooling with padding": {"input": [32, 96, 96], "layers": [{"conv2d": {"out": 32, "kernel": 1}}, {"maxpool2d": {"kernel": 3, "stride": 2, "padding": 1}}]},
    "average pooling with padding, ceil": {"input": [32, 96, 96], "layers": [{"conv2d": {"out": 32, "kernel": 1}}, {"avgpool2d": {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}}]},
    "max pooling, dilation 9 with same": {"input": [16, 64, 64], "layers": [{"conv2d": {"out": 16, "kernel": 1}}, {"maxpool2d": {"kernel": 3, "stride": 1, "dilation": 9, "padding": "same"}}]},
    "adaptive pooling": {"input": [32, 61, 67], "layers": [{"conv2d": {"out": 32, "kernel": 1}}, {"adaptive_avgpool2d": [7, 5]}]},
    "norms": {"input": [32, 48, 48], "layers": [{"conv2d": {"out": 32, "kernel": 1}}, "layernorm", {"groupnorm": 8}, "instancenorm2d", "batchnorm"]},
    "crop keeps its input": {"input": [32, 96, 96], "layers": [{"conv2d": {"out": 32, "kernel": 1}}, {"crop": {"size": [10, 10]}}, "relu", {"conv2d": {"out": 4, "kernel": 1}}]},
    "reflect padding": {"input": [16, 64, 64], "layers": [{"pad": {"padding": 20, "mode": "reflect"}}, {"conv2d": {"out": 4, "kernel": 1}}]},
    "residual, batchnorm folded": {"input": [32, 64, 64], "layers": [
        {"conv2d": {"out": 32, "kernel": 3, "padding": 1}, "name": "a"}, "batchnorm", "relu",
        {"conv2d": {"out": 32, "kernel": 3, "padding": 1}}, {"batchnorm": {}, "name": "b"}, {"add": ["a", "b"]}, "relu"]},
    "dense head": {"input": [2048], "layers": [{"linear": 1024}, "relu", {"linear": {"out": 1000, "activation": "softmax"}}]},
}


@pytest.mark.parametrize("name", sorted(NAMED))
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("dtype", sorted(ITEMSIZE))
def test_named_cases_stay_within_their_estimate(name, layout, dtype):
    spec = NAMED[name] if layout == "channels_first" else channels_last(NAMED[name])
    net = network(spec)
    check(*measure_run(net, 2, dtype), (name, layout, dtype))
    check(*measure_forward(net, 2, dtype), (name, layout, dtype))


SPLIT = ["conv, gelu fused", "residual, batchnorm folded", "crop keeps its input", "separable, stride 2", "softmax over channels",
         "dense head", "transposed conv, stride 2", "norms"]


@pytest.mark.parametrize("name", SPLIT)
def test_a_batch_run_as_parts_stays_within_its_estimate(monkeypatch, name):
    """A batch run as parts on two threads (runner.part_sizes), forced here whatever its
    size: both parts at their busiest at once, and the output they are joined into."""
    from cnncalc.layers import kernels

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    net = network(NAMED[name])
    check(*measure_run(net, 3, "float32"), (name, "parts"))
    check(*measure_forward(net, 3, "float32"), (name, "parts"))


@pytest.mark.parametrize("name", ["mobilenetv2.yaml", "siamese.yaml", "fpn.yaml", "googlenet.yaml"])
def test_an_example_run_as_parts_stays_within_its_estimate(monkeypatch, name):
    """Two inputs (siamese), several outputs (fpn), concatenations (googlenet), as parts."""
    from cnncalc.layers import kernels

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    net = cnncalc.load(ROOT / "examples" / name, input_shape=EXAMPLES[name])
    check(*measure_run(net, 4, "float32"), (name, "parts"))


def test_a_huge_dilation_with_same_allocates_no_padding():
    """Zero padding is read lazily: 40,000 padded positions per axis cost nothing."""
    net = network(NAMED["dilation 20,000 with same"])
    estimate, peak = measure_forward(net, 1, "float32")
    assert peak < 2 * 2**20 and estimate >= peak


def test_the_issues_transposed_conv_is_estimated_above_its_peak():
    """64x512x512 through a stride-2 transposed conv, scaled down 16x in positions: the
    estimate used to be 17x below the peak."""
    net = network({"input": [64, 128, 128], "layers": [{"conv_transpose2d": {"out": 64, "kernel": 4, "stride": 2, "padding": 1}}]})
    check(*measure_run(net, 1, "float32"), "transposed conv")


# -- the example networks ----------------------------------------------------------------------

EXAMPLES = {  # a smaller input where the example allows one and its own takes long
    "alexnet.yaml": "3x96x96",
    "convnext-tiny.yaml": "3x32x32",  # its smallest: GELU's erf is slow under tracemalloc
    "deeplabv3.yaml": "3x32x32",
    "densenet121.yaml": "3x64x64",
    "efficientnet-b0.yaml": "3x64x64",
    "efficientnetb0-keras.yaml": "64x64x3",
    "fpn.yaml": "3x64x64",
    "googlenet.yaml": "3x64x64",
    "keras-mnist.yaml": None,
    "keras-resnet50.yaml": "64x64x3",
    "lenet5.yaml": None,
    "mnist-421k.yaml": None,
    "mobilenetv2-transfer.yaml": "64x64x3",
    "mobilenetv2.yaml": "3x64x64",
    "mobilenetv3-large.yaml": "64x64x3",
    "resnet18.yaml": "3x64x64",
    "resnet50.yaml": "3x64x64",
    "shufflenetv2.yaml": "3x64x64",
    "siamese.yaml": None,  # two inputs
    "text-cnn.yaml": None,
    "tiny-resnet.yaml": None,
    "unet.yaml": None,  # its crops are written for 572x572: one sample, float32 only (10 s)
    "vgg16.yaml": "3x64x64",
}
# Every example in float32; float64 (the same rules at twice the itemsize) for every layer type above.
EXAMPLE_RUNS = [(name, "float32") for name in sorted(EXAMPLES)]


def test_every_example_is_listed():
    assert sorted(EXAMPLES) == sorted(p.name for p in (ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("name, dtype", EXAMPLE_RUNS)
def test_examples_stay_within_their_estimate(name, dtype):
    net = cnncalc.load(ROOT / "examples" / name, input_shape=EXAMPLES[name])
    check(*measure_run(net, 1 if name == "unet.yaml" else 2, dtype), (name, dtype))


# -- rf --verify ------------------------------------------------------------------------------------

VERIFIED = {
    "lenet5": ("lenet5.yaml", None),
    "resnet18 small": ("resnet18.yaml", "3x32x32"),
    "tiny-resnet": ("tiny-resnet.yaml", None),
    "1-D, long": {"input": [2, 2000], "layers": [{"conv1d": {"out": 4, "kernel": 9, "padding": 4}}, {"maxpool1d": 2}, "relu",
                                               {"conv1d": {"out": 4, "kernel": 3, "dilation": 4}}, {"upsample": 2}]},
    # a squeeze-excitation gate, held at its zero-input value while the main path is probed
    "gated": {"input": [4, 24, 24], "layers": [
        {"conv2d": {"out": 8, "kernel": 3, "padding": 1}, "name": "c"}, {"global_avgpool": {"keepdims": True}},
        {"conv2d": {"out": 8, "kernel": 1}}, {"sigmoid": None, "name": "gate"}, {"multiply": ["c", "gate"]},
        {"conv2d": {"out": 4, "kernel": 3}}]},
    # several outputs, and a channel shuffle (no field from there on, so no verdict)
    "split, shuffle": {"input": [4, 40, 40], "layers": [
        {"split": [2, 2], "name": "s"}, {"conv2d": {"out": 2, "kernel": 3, "padding": 1}, "from": "s.0", "name": "c"},
        {"concat": ["c", "s.1"]}, {"reshape": [2, 2, 40, 40]}, {"flatten": {"start_dim": 1, "end_dim": 2}}, {"conv2d": {"out": 2, "kernel": 3}}]},
}


@pytest.mark.parametrize("name", sorted(VERIFIED))
def test_rf_verify_stays_within_its_estimate(name):
    if isinstance(VERIFIED[name], dict):
        net = network(VERIFIED[name])
    else:
        file, shape = VERIFIED[name]
        net = cnncalc.load(ROOT / "examples" / file, input_shape=shape)
    summary = cnncalc.summary(net)
    estimate = fieldcheck.estimate(net, summary)
    verdicts, peak = traced(lambda: fieldcheck.measure(net, summary))
    assert verdicts and all(agrees for _, agrees in verdicts.values())
    check(estimate.bytes, peak, name)


@pytest.mark.parametrize("dtype", sorted(ITEMSIZE))
def test_a_large_layer_s_tiles_on_the_threads_stay_within_the_estimate(monkeypatch, dtype):
    """One sample through a layer of many tiles (kernels.tile_items): a tile on each thread."""
    from cnncalc.layers import kernels

    monkeypatch.setattr(kernels, "THREADS", 2)
    net = network({"input": [64, 128, 128], "layers": [{"conv2d": {"out": 16, "kernel": 3, "padding": 2, "dilation": 2, "activation": "relu"}}]})
    assert kernels.tile_items(kernels.tile_count((128, 128), kernels.tile_cost(64, (16, 64, 3, 3), 1, ITEMSIZE[dtype])))
    check(*measure_run(net, 1, dtype), ("many tiles", dtype))
    check(*measure_forward(net, 1, dtype), ("many tiles", dtype))
