"""The fast forward paths against PyTorch: Winograd's F(2x2, 3x3) and F(4x4, 3x3) in float32
within the stated bound of a float64 reference, the choice of path per layer, the
activations applied by the layer before them (fuse_epilogues) giving exactly what the
unfused pass gives, the kernels' threads giving what one thread gives, and small maps of
several samples in one product.

The bound is per sample and output map: |y32 - y| <= BOUND * (sum |w| * max |x| + |bias|),
the map's kernel's absolute sum over every input channel times the sample's largest input;
winograd.BOUND states it for each tile and the README repeats it. (Relative to the map's
largest sum |w||x| instead, hypothesis found a 1x1 input padded on every side up to 34 times over
the bound: its one output reads one input, but the transforms mix all nine weights.)
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.forward import runner
from cnncalc.layers import kernels, winograd

EXAMPLES = cnncalc.__file__.rsplit("/", 2)[0] + "/examples"


def scale(x, w, b):
    """What Winograd's rounding is bounded by, per sample and output map (N, O, 1, 1): the
    map's kernel's sum of |w| over every input channel times the sample's largest |x|, plus
    |bias|."""
    weights = np.abs(np.asarray(w, dtype=np.float64)).sum(axis=(1, 2, 3))
    inputs = np.abs(np.asarray(x, dtype=np.float64)).max(axis=tuple(range(1, np.ndim(x))))
    bias = 0 if b is None else np.abs(np.asarray(b, dtype=np.float64))
    return (inputs[:, None] * weights[None, :] + bias)[:, :, None, None]


def reference(x, w, b, padding):
    """PyTorch's float64 convolution, and its rounding's scale (scale)."""
    x64, w64 = torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64)
    y = F.conv2d(x64, w64, None if b is None else torch.tensor(b, dtype=torch.float64), padding=padding).numpy()
    return y, scale(x, w, b)


def within(got, y, terms, bound) -> float:
    """The worst error over the bound of its map (sample, channel; terms: scale's): at most 1 passes."""
    error = np.abs(np.asarray(got, dtype=np.float64) - y).max(axis=(2, 3))
    return float((error / (bound * terms.max(axis=(2, 3)))).max())


def padded(x, padding):
    (top, bottom), (left, right) = padding
    return F.pad(torch.tensor(x, dtype=torch.float64), (left, right, top, bottom)).numpy()


@settings(max_examples=40, deadline=None)
@example(tile=2, batch=2, channels=1, out_channels=2, height=1, width=1, padding=(1, 1, 1, 1), bias=False, seed=128)  # found by hypothesis
@given(
    tile=st.sampled_from([2, 4]),
    batch=st.integers(1, 3),
    channels=st.sampled_from([1, 3, 16, 64, 256]),
    out_channels=st.integers(1, 9),
    height=st.integers(1, 17),
    width=st.integers(1, 17),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_winograd_float32_is_within_its_bound(tile, batch, channels, out_channels, height, width, padding, bias, seed):
    top, bottom, left, right = padding
    if height + top + bottom < 3 or width + left + right < 3:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width)).astype(np.float32)
    w = (rng.standard_normal((out_channels, channels, 3, 3)) / np.sqrt(9 * channels)).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32) if bias else None
    pairs = ((top, bottom), (left, right))
    y, terms = reference(padded(x, pairs), w, b, 0)
    got = winograd.conv2d(x, w, b, pairs, tile)
    assert got.dtype == np.float32 and got.shape == y.shape
    assert within(got, y, terms, winograd.BOUND[tile]) <= 1


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_in_float64_is_the_convolution_to_rounding(tile):
    rng = np.random.default_rng(tile)
    x, w, b = rng.standard_normal((2, 5, 11, 9)), rng.standard_normal((7, 5, 3, 3)), rng.standard_normal(7)
    y, _ = reference(x, w, b, 1)
    np.testing.assert_allclose(winograd.conv2d(x, w, b, ((1, 1), (1, 1)), tile), y, rtol=1e-12, atol=1e-12 * np.abs(y).max())


def test_the_bound_is_tight_enough_to_mean_something():
    """F(4x4) really rounds worse than F(2x2), and neither is the float64 answer: a bound
    that any error met would say nothing. Single-channel layers come nearest the bound
    (with many channels the roundings average out)."""
    worst = {2: 0.0, 4: 0.0}
    for seed in range(200):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((2, 1, *rng.integers(3, 12, 2))).astype(np.float32)
        w = (rng.standard_normal((3, 1, 3, 3)) / 3).astype(np.float32)
        y, terms = reference(padded(x, ((1, 1), (1, 1))), w, None, 0)
        for tile in (2, 4):
            worst[tile] = max(worst[tile], within(winograd.conv2d(x, w, None, ((1, 1), (1, 1)), tile), y, terms, 1.0))
    assert 0 < worst[2] < worst[4] <= winograd.BOUND[4]
    assert worst[4] > winograd.BOUND[4] / 20, worst  # the bound is within 20x of what is measured


@pytest.mark.parametrize(
    "shape, weight, stride, dilation, groups, mode, itemsize, chosen",
    [
        ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, "zeros", 4, True),  # ResNet-50's 3x3
        ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, "zeros", 8, False),  # float64: the direct form
        ((1, 64, 56, 56), (64, 64, 3, 3), 2, 1, 1, "zeros", 4, False),  # stride 2
        ((1, 64, 56, 56), (64, 64, 3, 3), 1, 2, 1, "zeros", 4, False),  # dilated
        ((1, 64, 56, 56), (64, 32, 3, 3), 1, 1, 2, "zeros", 4, False),  # grouped
        ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, "reflect", 4, False),  # padding copied
        ((1, 64, 56, 56), (64, 64, 5, 5), 1, 1, 1, "zeros", 4, False),  # 5x5
    ],
)
def test_winograd_is_used_only_where_it_is_exact_to_its_bound(shape, weight, stride, dilation, groups, mode, itemsize, chosen):
    tile = kernels.conv_algorithm(shape, weight, [stride] * 2, [(1, 1)] * 2, [dilation] * 2, groups, mode, itemsize)
    assert bool(tile) is chosen


@pytest.fixture(scope="module")
def vgg_layer():
    """A VGG-like float32 layer that takes the Winograd path, through cnncalc's own conv."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 64, 24, 24)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) / 24).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    return x, w, b


def test_cnncalc_conv_in_float32_takes_winograd_within_the_bound(vgg_layer):
    x, w, b = vgg_layer
    tile = kernels.conv_algorithm(x.shape, w.shape, [1, 1], [(1, 1)] * 2, [1, 1], 1, "zeros", 4)
    assert tile in (2, 4)
    y, terms = reference(x, w, b, 1)
    got = kernels.conv(x, w, b, [1, 1], [(1, 1)] * 2, [1, 1], 1)
    assert within(got, y, terms, winograd.BOUND[tile]) <= 1


def test_workspace_covers_what_winograd_allocates(vgg_layer):
    import tracemalloc

    x, w, b = vgg_layer
    pairs = ((1, 1), (1, 1))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    y = winograd.conv2d(x, w, b, pairs, 4)
    peak = tracemalloc.get_traced_memory()[1] - before - y.nbytes
    tracemalloc.stop()
    assert 0 < peak <= winograd.workspace(x.shape, w.shape, pairs, 4, 4) + runner.SCRATCH_BYTES  # NumPy's ufunc buffers


SMALL = ["tiny-resnet", "mobilenetv2", "efficientnet-b0", "shufflenetv2", "googlenet", "fpn"]


@pytest.mark.parametrize("name", SMALL)
def test_fused_activations_give_exactly_the_unfused_pass(name):
    """float64 (no Winograd), BatchNorms folded in both: applying each activation to the
    tiles of the layer before it gives the very same numbers as running it on its own, on
    networks with residual adds, squeeze-excitation gates, concatenations, shared layers
    and several outputs."""
    net = cnncalc.load(f"{EXAMPLES}/{name}.yaml")
    if name in ("mobilenetv2", "efficientnet-b0", "googlenet", "shufflenetv2"):
        net = cnncalc.load(f"{EXAMPLES}/{name}.yaml", input_shape=(3, 64, 64))
    summary = cnncalc.summary(net)
    rng = np.random.default_rng(0)
    params, _, _ = runner.prepare_weights(summary, net, {}, np.float64, rng)
    x = runner.make_input(net, 1, None, np.float64, rng, None)
    folded = runner.fold_batchnorms(net, params)
    plain, _, _ = runner.execute(net, params, x, folded=folded)
    epilogues, fused = runner.fuse_epilogues(net, folded)
    assert fused, "nothing was fused"
    got, _, _ = runner.execute(net, params, x, folded=folded | fused, epilogues=epilogues)
    for a, b in zip(plain if isinstance(plain, tuple) else (plain,), got if isinstance(got, tuple) else (got,)):
        np.testing.assert_array_equal(a, b)


def test_an_activation_is_not_fused_where_another_layer_reads_its_input():
    net = cnncalc.loads(
        "input: [4, 8, 8]\nlayers:\n  - conv2d: {out: 4, kernel: 3, padding: 1}\n    name: c\n  - relu:\n    name: r\n"
        "  - add: [c, r]\n",
        format="yaml",
    )
    epilogues, fused = runner.fuse_epilogues(net)
    assert not fused and not epilogues


def test_an_activation_after_a_folded_batchnorm_is_fused_into_the_conv():
    net = cnncalc.loads(
        "input: [4, 8, 8]\nlayers:\n  - conv2d: {out: 4, kernel: 3, padding: 1}\n    name: c\n  - batchnorm:\n    name: bn\n"
        "  - relu6:\n    name: r\n  - sigmoid:\n    name: s\n",
        format="yaml",
    )
    summary = cnncalc.summary(net)
    params, _, _ = runner.prepare_weights(summary, net, {}, np.float64, np.random.default_rng(0))
    folded = runner.fold_batchnorms(net, params)
    epilogues, fused = runner.fuse_epilogues(net, folded)
    assert folded == {"bn"} and fused == {"r", "s"} and set(epilogues) == {"c"}


def channels_last(x):
    """x (N, C, *spatial) with the same values over channels-last memory."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)


TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@pytest.mark.parametrize("rank, kernel, stride, dilation, padding", [
    (2, 3, 1, 1, (1, 1)),
    (2, 5, 2, 1, (2, 2)),
    (2, 3, 2, 1, (0, 1)),  # TensorFlow's 'same' at stride 2: one more after
    (2, 3, 1, 2, (2, 2)),
    (2, 5, 3, 1, (0, 0)),  # the last positions go unread
    (2, 3, 1, 1, (3, 0)),  # rows and columns of padding only: the first outputs read no input
    (1, 5, 1, 1, (2, 2)),
    (1, 3, 2, 2, (1, 0)),
    (3, 3, 1, 1, (1, 1)),
    (3, 3, 2, 1, (1, 1)),
])
@pytest.mark.parametrize("memory", ["channels first", "channels last"])
@pytest.mark.parametrize("merged", [True, False])
def test_depthwise_over_channels_last_memory_equals_pytorch(monkeypatch, rank, kernel, stride, dilation, padding, memory, merged):
    """Depthwise convolutions run channels last (lastaxis.depthwise): chunks of output rows
    on two threads, the last axis merged with the channels or not, from an input in either
    memory order; bias and activation applied per chunk; the result over channels-last
    memory."""
    from cnncalc.layers import lastaxis

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(lastaxis, "CHUNK_BYTES", 512)  # a row or two a chunk: many chunks
    monkeypatch.setattr(lastaxis, "MERGED_BYTES", 2**30 if merged else 0)
    monkeypatch.setattr(lastaxis, "BIAS_RUN", 25)  # the bias repeated 3 times: chunks of whole runs and a rest
    rng = np.random.default_rng(rank * 100 + kernel * 10 + stride)
    size = (11, 9, 7)[:rank]
    x, w, b = rng.standard_normal((3, 10, *size)), rng.standard_normal((10, 1, *(kernel,) * rank)), rng.standard_normal(10)
    before, after = padding
    padded = F.pad(torch.tensor(x), [before, after] * rank)
    expected = F.relu(TORCH_CONV[rank](padded, *(torch.tensor(a) for a in (w, b)), stride=stride, dilation=dilation, groups=10)).numpy()
    source = channels_last(x) if memory == "channels last" else x
    got = kernels.conv(source, w, b, [stride] * rank, [padding] * rank, [dilation] * rank, 10,
                       epilogue=lambda part: np.maximum(part, 0, out=part))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert lastaxis.is_channels_last(got)
    if merged and rank > 1 and stride == 1:
        assert lastaxis.Plan(x.shape, w.shape[2:], [stride] * rank, [padding] * rank, [dilation] * rank, 8).merged


@pytest.mark.parametrize("padding_mode, multiplier", [("reflect", 1), ("zeros", 2)])
def test_depthwise_that_stays_channels_first_equals_pytorch(monkeypatch, padding_mode, multiplier):
    """A padding mode other than zeros, or several kernels per channel, keeps the
    channels-first blocks (kernels.depthwise_sample), on two threads."""
    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "DEPTHWISE_BYTES", 4096)  # many blocks, dealt to both threads
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    rng = np.random.default_rng(multiplier)
    x, w, b = rng.standard_normal((2, 12, 15, 13)), rng.standard_normal((12 * multiplier, 1, 3, 3)), rng.standard_normal(12 * multiplier)
    expected = F.conv2d(F.pad(torch.tensor(x), [1] * 4, mode=padding_mode if padding_mode != "zeros" else "constant"),
                        torch.tensor(w), torch.tensor(b), groups=12).numpy()
    got = kernels.conv(x, w, b, [1, 1], [(1, 1)] * 2, [1, 1], 12, padding_mode)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("bias_run", [None, 20])
def test_a_1x1_convolution_over_channels_last_memory_is_one_product(monkeypatch, rank, bias_run):
    """Over channels-last memory a 1x1 convolution is (N x positions, C) @ (C, out) and
    hands on channels-last memory; over channels-first memory it keeps that order. The
    bias is added along runs of the repeated bias (lastaxis.add_bias): by default longer
    than these outputs (a rest only), or (bias_run 20: three copies) runs and a rest."""
    from cnncalc.layers import lastaxis

    if bias_run is not None:
        monkeypatch.setattr(lastaxis, "BIAS_RUN", bias_run)
    rng = np.random.default_rng(rank)
    x, w, b = rng.standard_normal((3, 6, *(5, 4, 3)[:rank])), rng.standard_normal((7, 6, *(1,) * rank)), rng.standard_normal(7)
    expected = F.relu(TORCH_CONV[rank](*(torch.tensor(a) for a in (x, w, b)))).numpy()
    relu = lambda part: np.maximum(part, 0, out=part)  # noqa: E731
    for source, last in ((channels_last(x), True), (x, False)):
        got = kernels.conv(source, w, b, [1] * rank, [(0, 0)] * rank, [1] * rank, 1, epilogue=relu)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        assert lastaxis.is_channels_last(got) == last


@pytest.fixture
def winograd_everywhere(monkeypatch):
    """Winograd's F(4x4) wherever it applies, whatever it costs: the widest tile, its largest
    rounding, on layers far smaller than those the cost model gives it."""
    monkeypatch.setattr(kernels, "conv_algorithm", lambda *args: 4 if kernels.winograd_applies(*args) else 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # the patch holds for every example
@given(
    channels=st.integers(1, 12),
    out=st.integers(1, 12),
    size=st.tuples(st.integers(3, 14), st.integers(3, 14)),
    padding=st.sampled_from([0, 1, "same", "valid"]),
    bias=st.booleans(),
    activation=st.sampled_from(["relu", "none"]),
    seed=st.integers(0, 2**16),
)
def test_conv2d_layer_in_float32_is_within_the_bound(winograd_everywhere, channels, out, size, padding, bias, activation, seed):
    """The conv2d type through cnncalc's own pass (the layer, its padding rules and its
    fused activation) in float32 against torch.nn.Conv2d in float64."""
    net = cnncalc.loads(
        f"input: [{channels}, {size[0]}, {size[1]}]\nlayers:\n  - conv2d: {{out: {out}, kernel: 3, padding: {padding}, "
        f"bias: {str(bias).lower()}}}\n    name: c\n" + ("  - relu:\n" if activation == "relu" else ""),
        format="yaml",
    )
    module = torch.nn.Conv2d(channels, out, 3, padding=padding, bias=bias).double()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, channels, *size))
    with torch.no_grad():
        y = module(torch.tensor(x)).numpy()
        terms = scale(x, module.weight.numpy(), None if not bias else module.bias.numpy())
    params = {"c": {k: v.detach().numpy().astype(np.float32) for k, v in module.state_dict().items()}}
    epilogues, fused = runner.fuse_epilogues(net)
    got, _, _ = runner.execute(net, params, x.astype(np.float32), folded=fused, epilogues=epilogues)
    if activation == "relu":
        y = np.maximum(y, 0)  # relu never increases the error
    assert got.dtype == np.float32 and got.shape == y.shape
    assert within(got, y, terms, winograd.BOUND[4]) <= 1


@pytest.mark.parametrize("groups, kernel, stride, padding", [(1, 1, 1, 0), (1, 3, 2, 1), (2, 3, 1, 1), (1, 2, 1, 0)])
def test_small_maps_of_several_samples_in_one_product_equal_pytorch(groups, kernel, stride, padding):
    """A batch of small maps (ResNet's last stage at batch 8) runs as one product over the
    samples side by side (kernels.batch_sample): the same numbers as PyTorch, bias and
    activation included."""
    rng = np.random.default_rng(kernel * 10 + stride)
    x, w, b = rng.standard_normal((5, 8, 7, 6)), rng.standard_normal((6, 8 // groups, kernel, kernel)), rng.standard_normal(6)
    assert kernels.samples_together(x.shape, w.shape, groups, kernels.conv_output_size((7, 6), (kernel,) * 2, (stride,) * 2, [(padding,) * 2] * 2, (1, 1)), "zeros", [(padding,) * 2] * 2, 8) > 1
    expected = F.relu(F.conv2d(*(torch.tensor(a) for a in (x, w, b)), stride=stride, padding=padding, groups=groups)).numpy()
    got = kernels.conv(x, w, b, [stride] * 2, [(padding, padding)] * 2, [1, 1], groups, epilogue=lambda part: np.maximum(part, 0, out=part))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", ["im2col", "batch", "winograd"])
def test_gathering_and_scattering_on_two_threads_equal_pytorch(monkeypatch, path):
    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    rng = np.random.default_rng(3)
    batch = 3 if path == "batch" else 1
    x, w, b = rng.standard_normal((batch, 6, 9, 10)), rng.standard_normal((5, 6, 3, 3)), rng.standard_normal(5)
    expected = F.conv2d(*(torch.tensor(a) for a in (x, w, b)), padding=1).numpy()
    if path == "winograd":
        got = winograd.conv2d(x, w, b, ((1, 1), (1, 1)), 4)
    else:
        got = kernels.conv(x, w, b, [1, 1], [(1, 1)] * 2, [1, 1], 1)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def run_both(text: str, data=None, dtype="float64"):
    """`cnncalc run`'s pass (BatchNorms folded, activations fused) and the plain one
    (keep=True: nothing folded or fused), on the same weights and input."""
    net = cnncalc.loads(text, format="yaml")
    summary = cnncalc.summary(net)
    options = dict(batch=1, dtype=dtype, seed=0, weights={}, data=data, data_location=None)
    fast = runner.run(net, summary, keep=False, **options)
    plain = runner.run(net, summary, keep=True, **options)
    return fast, plain


@pytest.mark.parametrize("layer", [
    "conv_transpose2d: {out: 4, kernel: 3, padding: 1}",
    "conv_transpose2d: {out: 3, kernel: 3, stride: 2}",
    "separable_conv2d: {out: 5, kernel: 3}",
    "conv2d: {out: 4, kernel: 3, padding: 1, activation: gelu}",
    "conv2d: {out: 4, kernel: 3, padding: 1, activation: softmax}",
])
def test_an_activation_after_any_convolution_gives_the_plain_pass(layer):
    """Only the types that apply an epilogue as they write take one; the others (transposed,
    separable) run as they are and the activation after them on its own (found in review:
    a transposed convolution took Conv's fused pass, with the wrong weights' layout)."""
    fast, plain = run_both(f"input: [4, 6, 6]\nlayers:\n  - {layer}\n  - relu\n")
    np.testing.assert_array_equal(fast.output, plain.output)


def test_overflow_in_a_worker_thread_is_as_quiet_as_in_the_main_one(monkeypatch, tmp_path):
    """run() silences overflow (exp of a large negative value is inf, then sigmoid 0): the
    kernels' threads keep the caller's error settings."""
    import warnings

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    data = (np.random.default_rng(0).standard_normal((1, 16, 32, 32)) * 1000).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast, plain = run_both("input: [16, 32, 32]\nlayers:\n  - conv2d: {out: 32, kernel: 3, padding: 1}\n  - sigmoid\n",
                               data=data, dtype="float32")
    assert fast.ok and np.isfinite(fast.output).all() and (fast.output == 0).any()


def test_parallel_runs_every_item_once_the_calling_thread_taking_its_share(monkeypatch):
    """The calling thread works beside the pool instead of waiting for it (a hand-over
    costs up to 250 microseconds on a virtual machine): every item runs exactly once,
    some in the calling thread; items that call parallel() again, or own_threads, run
    inline and change nothing."""
    import threading

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    caller, ran, nested = threading.get_ident(), [], []

    def item(i):
        ran.append((i, threading.get_ident()))
        kernels.parallel(lambda j: nested.append((i, j, threading.get_ident())), range(3), 2**30)
        kernels.own_threads()
        time.sleep(0.002)  # long enough for the pool thread to wake and take some

    with kernels.forward_threads():
        kernels.parallel(item, range(40), 2**30)
        assert kernels._blas["limiter"] is None
    assert sorted(i for i, _ in ran) == list(range(40))
    assert caller in {thread for _, thread in ran} and len({thread for _, thread in ran}) == 2
    outer = dict(ran)
    assert sorted((i, j) for i, j, _ in nested) == [(i, j) for i in range(40) for j in range(3)]
    assert all(thread == outer[i] for i, _, thread in nested)


def test_a_failing_item_stops_the_others_and_is_raised_after_they_end(monkeypatch):
    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    ran = []

    def item(i):
        ran.append(i)
        time.sleep(0.001)
        if i == 5:
            raise ValueError("item 5")

    with pytest.raises(ValueError, match="item 5"):
        kernels.parallel(item, range(1000), 2**30)
    assert 5 in ran and len(ran) < 1000


def test_an_interrupt_wins_over_an_item_s_error_and_stops_every_thread(monkeypatch):
    """Ctrl-C in the calling thread's item is what the user sees, even when a pool item
    failed first; neither thread starts an item after it (found in review)."""
    import threading

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    caller, ran, started = threading.get_ident(), [], threading.Event()

    def item(i):
        ran.append(i)
        if threading.get_ident() != caller:
            started.wait(5)  # the calling thread has an item of its own (else it may find the failure first)
            raise ValueError("a pool item")
        started.set()
        time.sleep(0.05)  # the pool thread fails meanwhile
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        kernels.parallel(item, range(100), 2**30)
    assert len(ran) < 100 and not getattr(kernels._local, "inside", False)


def test_one_thread_measures_nothing_and_never_hands_over(monkeypatch):
    monkeypatch.setattr(kernels, "THREADS", 1)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", None)
    monkeypatch.setattr(kernels, "_costs", {})
    assert not kernels.worth_threads(2**40) and kernels.handover() == float("inf")
    assert kernels._costs == {}


def test_a_product_inside_an_item_stays_whole_and_measures_nothing(monkeypatch):
    """A product made inside parallel()'s items never splits nor measures a hand-over:
    the pool's one thread could be the one waiting for it (found in review: a deadlock)."""
    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(kernels, "MATMUL_FLOPS", None)
    monkeypatch.setattr(kernels, "_costs", {})
    a, b = np.ones((64, 32)), np.ones((32, 16))
    outs = [np.empty((64, 16)) for _ in range(4)]
    with kernels.forward_threads():
        kernels.own_threads()
        kernels.parallel(lambda i: kernels.matmul(a, b, outs[i]), range(4), 2**30)
    assert all((out == 32).all() for out in outs) and "handover" not in kernels._costs


def test_small_work_stays_in_the_calling_thread_by_the_measured_hand_over(monkeypatch):
    """Unless PARALLEL_BYTES is set, work below twice a measured hand-over's worth of one
    core's element-wise rate (at least MIN_PARALLEL_BYTES) runs in the calling thread."""
    import threading

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", None)
    monkeypatch.setattr(kernels, "_costs", {})
    kernels.parallel(lambda i: None, range(4), kernels.MIN_PARALLEL_BYTES - 1)
    assert kernels._costs == {}  # nothing measured for small work: a small network's pass stays short
    threshold = kernels.parallel_bytes()
    assert kernels.handover() > 0 and threshold >= 2**20
    threads = set()
    kernels.parallel(lambda i: (threads.add(threading.get_ident()), time.sleep(0.001)), range(20), int(threshold) - 1)
    assert threads == {threading.get_ident()}


def test_a_forked_child_gets_threads_of_its_own(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    x, w = np.ones((1, 8, 16, 16)), np.ones((8, 8, 3, 3))
    kernels.conv(x, w, None, [1, 1], [(1, 1)] * 2, [1, 1], 1)  # the parent's pool exists
    child = multiprocessing.get_context("fork").Process(target=kernels.conv, args=(x, w, None, [1, 1], [(1, 1)] * 2, [1, 1], 1))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan, 3e38])
def test_infinite_inputs_stay_where_pytorch_puts_them(winograd_everywhere, value):
    """Winograd would spread an inf over its whole tile (inf - inf); such an input takes the
    direct form, whose infinities are the outputs that read it, as PyTorch's."""
    x = np.random.default_rng(0).standard_normal((1, 8, 12, 12)).astype(np.float32)
    x[0, 3, 5, 5] = value
    w = np.random.default_rng(1).standard_normal((8, 8, 3, 3)).astype(np.float32)
    expected = F.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    got = kernels.conv(x, w, None, [1, 1], [(1, 1)] * 2, [1, 1], 1)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected))
    x[0, 3, 5, 5], w[2, 3, 1, 1] = 1.0, value  # in a weight: the outputs of its channel, as PyTorch's
    expected = F.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    got = kernels.conv(x, w, None, [1, 1], [(1, 1)] * 2, [1, 1], 1)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected))


@pytest.mark.parametrize("layers", [
    ["conv2d: {out: 64, kernel: 3, padding: 1}", "gelu"],
    ["conv2d: {out: 64, kernel: 3, padding: 1, activation: gelu}"],
    ["conv2d: {out: 64, kernel: 3, padding: 1}", "batchnorm", "gelu"],
    ["conv2d: {out: 64, kernel: 3, padding: 1, groups: 64}", "gelu"],
    ["conv2d: {out: 64, kernel: 3, padding: 1}", "mish"],
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_memory_estimate_covers_an_activation_applied_as_the_conv_writes(layers, dtype):
    """The activation's temporaries live beside the convolution's buffers, on every thread
    (found in review: 6.0 MB measured against 5.2 MB estimated)."""
    from test_peak_memory import measure_run

    net = cnncalc.loads("input: [64, 28, 28]\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers), format="yaml")
    estimate, peak = measure_run(net, 1, dtype)
    assert estimate >= peak, f"estimated {estimate:,} B but the peak was {peak:,} B"


@pytest.mark.parametrize("owned", [False, True])
@pytest.mark.parametrize("operation", ["add", "multiply"])
def test_a_merge_then_its_activation_slab_by_slab_equals_numpy(monkeypatch, owned, operation):
    """add (a residual sum) and multiply (a squeeze-excitation gate, broadcast over the map)
    with the activation after them fused: slabs on two threads, into the first input when
    nothing else reads it."""
    from cnncalc.layers import merge

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(kernels, "EPILOGUE_SLAB", 64)  # many slabs
    rng = np.random.default_rng(0)
    a, b, gate = rng.standard_normal((3, 10, 5, 4)), rng.standard_normal((3, 10, 5, 4)), rng.standard_normal((3, 10, 1, 1))
    other = b if operation == "add" else gate
    expected = np.maximum(a + other if operation == "add" else a * other, 0)
    layer = next(node.layer for node in cnncalc.loads(
        f"input: [10, 5, 4]\nlayers:\n  - conv2d: {{out: 10, kernel: 1}}\n    name: c\n  - {operation}: [c, input]\n",
        format="yaml").nodes if node.layer.type_name == operation)
    first = a.copy()
    got = layer.forward_fused([first, other], {}, None, lambda part: np.maximum(part, 0, out=part), owned)
    np.testing.assert_array_equal(got, expected)
    assert (got is first) == owned


@pytest.mark.parametrize("a_shape, b_shape", [
    ((37, 20), (20, 11)),  # rows
    ((5, 20), (20, 41)),  # columns
    ((6, 9, 20), (6, 20, 13)),  # a stack of products
    ((9, 20), (4, 20, 13)),  # a stack against one matrix
    ((3, 7, 20), (20, 5)),  # a linear layer over (N, L, F)
])
def test_products_split_over_the_kernels_threads_equal_numpy(monkeypatch, a_shape, b_shape):
    """Where BLAS runs on one thread (own_threads) the kernels split a product over their
    own threads, each part finished (bias, activation) in the thread that made it."""
    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(kernels, "MATMUL_FLOPS", 0)
    rng = np.random.default_rng(len(a_shape) * 10 + len(b_shape))
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    expected = np.maximum(np.matmul(a, b) + 0.5, 0)
    out = np.empty(expected.shape)
    finished = []

    def finish(part):
        finished.append(part.shape)
        part += 0.5
        np.maximum(part, 0, out=part)

    with kernels.forward_threads():
        kernels.own_threads()
        kernels.matmul(a, b, out, finish)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert len(finished) == 2 and all(shape[-1] == expected.shape[-1] for shape in finished)


def test_a_product_worth_splitting_by_its_flops_splits_whatever_its_bytes(monkeypatch):
    """matmul weighs a product by its flops (matmul_flops); parallel's threshold in bytes
    touched must not overrule it (found by a benchmark: EfficientNet-B0's 1x1 products at
    batch 8, a few MB each, stayed on one thread with BLAS limited to one)."""
    import threading

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 2**40)
    monkeypatch.setattr(kernels, "MATMUL_FLOPS", 0)
    a, b = np.ones((64, 32)), np.ones((32, 16))
    out, threads = np.empty((64, 16)), []

    def finish(part):
        threads.append(threading.get_ident())
        time.sleep(0.01)  # the other thread takes the second part meanwhile

    with kernels.forward_threads():
        kernels.own_threads()
        kernels.matmul(a, b, out, finish)
    assert len(threads) == 2 and len(set(threads)) == 2 and (out == 32).all()


def blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def test_an_expensive_activation_takes_the_cores_from_blas_for_the_rest_of_the_pass(monkeypatch):
    """A SiLU over more than OWN_THREADS_BYTES has the rest of the pass run its products on
    the kernels' threads, BLAS on one; BLAS has its threads back after the pass, also when
    a layer fails. A pass of cheap activations leaves BLAS its threads."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "OWN_THREADS_BYTES", 4096)
    with threadpool_limits(2, user_api="blas"):
        seen = {}
        for act in ("relu", "silu"):  # the SiLU network last: the failing pass below is its
            net = cnncalc.loads(f"input: [8, 16, 16]\nlayers:\n  - conv2d: {{out: 8, kernel: 1}}\n  - {act}\n"
                                "  - conv2d: {out: 8, kernel: 1}\n    name: last\n", format="yaml")
            summary = cnncalc.summary(net)
            params, _, _ = runner.prepare_weights(summary, net, {}, np.float32, np.random.default_rng(0))
            x = np.ones((2, 8, 16, 16), np.float32)
            during = []
            epilogues, fused = runner.fuse_epilogues(net)  # as cnncalc run applies the activation: as the conv writes
            runner.execute(net, params, x, folded=fused, epilogues=epilogues,
                           on_layer=lambda node, out: during.append(blas_threads()) if node.name == "last" else None)
            seen[act] = during[0]
            assert blas_threads() == 2
        assert seen == {"silu": 1, "relu": 2}

        def fail(node, out):
            raise RuntimeError("a layer failed")

        epilogues, fused = runner.fuse_epilogues(net)
        with pytest.raises(RuntimeError):
            runner.execute(net, params, x, folded=fused, epilogues=epilogues, on_layer=fail)
        assert blas_threads() == 2


@pytest.mark.parametrize("large", [True, False])
def test_a_large_depthwise_convolution_takes_the_cores_from_blas(monkeypatch, large):
    """A depthwise convolution is the pool's work: one whose result is OWN_THREADS_BYTES or
    more has the rest of the pass run BLAS on one thread (measured: MobileNetV2 at batch
    8, whose depthwise layers ran beside BLAS's spinning threads, took 0.84 of the time);
    a small one leaves BLAS its threads. Either way the values are PyTorch's."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(kernels, "THREADS", 2)
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 6, 9, 9)), rng.standard_normal((6, 1, 3, 3)), rng.standard_normal(6)
    monkeypatch.setattr(kernels, "OWN_THREADS_BYTES", x.nbytes if large else x.nbytes + 1)
    with threadpool_limits(2, user_api="blas"):
        with kernels.forward_threads():
            got = kernels.conv(channels_last(x), w, b, [1, 1], [(1, 1)] * 2, [1, 1], 6)
            during = blas_threads()
        assert blas_threads() == 2
    assert during == (1 if large else 2)
    expected = F.conv2d(*(torch.tensor(a) for a in (x, w, b)), padding=1, groups=6).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pieces", [True, False])
def test_a_product_made_for_an_expensive_activation_takes_the_cores_first(monkeypatch, pieces):
    """A product about to make OWN_THREADS_BYTES or more for an activation computed in
    pieces (SiLU: Activation.epilogue's .pieces, kept by chained) limits BLAS before it
    starts, and is split into parts of FINISH_BYTES that the threads make and finish while
    in the cache; a cheap one (ReLU in place) leaves BLAS its threads and one product."""
    from threadpoolctl import threadpool_limits

    from cnncalc.layers.base import chained

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "OWN_THREADS_BYTES", 4096)
    monkeypatch.setattr(kernels, "FINISH_BYTES", 1024)
    monkeypatch.setattr(kernels, "MATMUL_FLOPS", 0)
    a, b = np.ones((64, 32)), np.ones((32, 16))  # out: 8 KiB
    out, parts = np.empty((64, 16)), []

    def finish(part):
        parts.append((part.shape, blas_threads()))
        part *= 2

    if pieces:
        finish.pieces = True
    with threadpool_limits(2, user_api="blas"):
        with kernels.forward_threads():
            kernels.matmul(a, b, out, chained(finish, lambda part: None))
        assert blas_threads() == 2
    assert (out == 64).all()
    if pieces:
        assert len(parts) == 8 and all(threads == 1 and shape == (8, 16) for shape, threads in parts)
    else:
        assert parts == [((64, 16), 2)]


def test_a_1x1_convolution_made_for_a_silu_takes_the_cores_before_its_product(monkeypatch):
    """Through the layer, not only matmul: a 1x1 convolution over channels-last memory
    (lastaxis.pointwise) whose epilogue is a SiLU keeps the epilogue's .pieces in its
    finish, so BLAS is limited before the product and the parts are finished on the
    threads (found in review: its own finish function had dropped the mark)."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "OWN_THREADS_BYTES", 4096)
    monkeypatch.setattr(kernels, "FINISH_BYTES", 2048)
    monkeypatch.setattr(kernels, "MATMUL_FLOPS", 0)
    silu = cnncalc.loads("input: [16, 6, 6]\nlayers:\n  - silu\n", format="yaml").nodes[0].layer.epilogue()
    during = []

    def epilogue(part):
        during.append(blas_threads())
        silu(part)

    epilogue.pieces = silu.pieces
    rng = np.random.default_rng(0)
    x = channels_last(rng.standard_normal((2, 8, 6, 6)))
    w, b = rng.standard_normal((16, 8, 1, 1)), rng.standard_normal(16)
    with threadpool_limits(2, user_api="blas"):
        with kernels.forward_threads():
            got = kernels.conv(x, w, b, [1, 1], [(0, 0)] * 2, [1, 1], 1, epilogue=epilogue)
    expected = F.silu(F.conv2d(*(torch.tensor(a) for a in (x, w, b)))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert len(during) > 2 and set(during) == {1}


@pytest.mark.parametrize("a_shape, b_shape", [((1, 9, 20), (4, 20, 13)), ((4, 9, 20), (1, 20, 13)), ((20,), (20, 5)), ((9, 20), (20,))])
def test_products_that_broadcast_or_are_vectors_equal_numpy(monkeypatch, a_shape, b_shape):
    """A stack of one broadcasts against the other operand's stack, and a vector is one
    product, as in np.matmul (found in review: the split sliced the stack of one)."""
    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(kernels, "MATMUL_FLOPS", 0)
    rng = np.random.default_rng(len(a_shape))
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    out = np.empty(np.matmul(a, b).shape)
    with kernels.forward_threads():
        kernels.own_threads()
        kernels.matmul(a, b, out)
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-12, atol=1e-12)


def test_only_the_thread_running_the_pass_takes_the_cores_from_blas(monkeypatch):
    """own_threads may be called from the kernels' threads (epilogues of chunks and slabs):
    there it does nothing (OpenBLAS's thread count may be per thread; found in review: two
    calls at once could also leave BLAS on one thread after the pass). Called from the
    pass's thread it limits BLAS until the pass ends."""
    import threading

    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(kernels, "THREADS", 2)
    with threadpool_limits(2, user_api="blas"):
        with kernels.forward_threads():
            both = [threading.Thread(target=kernels.own_threads) for _ in range(2)]
            for thread in both:
                thread.start()
            for thread in both:
                thread.join()
            assert blas_threads() == 2
            kernels.own_threads()
            kernels.own_threads()
            assert blas_threads() == 1
        assert blas_threads() == 2


# -- a batch run as parts, one per thread --------------------------------------------------------

PARTS_NET = """
input: [4, 12, 12]
layers:
  - conv2d: {out: 8, kernel: 3, padding: 1}
    name: stem
  - batchnorm
  - silu
  - {depthwise_conv2d: {kernel: 3, padding: 1}, name: spatial}
  - {global_avgpool: {keepdims: true}, name: squeeze}
  - {conv2d: {out: 8, kernel: 1}, from: squeeze}
  - {sigmoid: null, name: gate}
  - {multiply: [spatial, gate], name: gated}
  - {add: [stem, gated]}
  - relu
  - conv2d: {out: 6, kernel: 3, stride: 2}
  - flatten
  - linear: 5
"""


def parts_case(batch: int):
    net = cnncalc.loads(PARTS_NET, format="yaml")
    summary = cnncalc.summary(net)
    rng = np.random.default_rng(batch)
    params, _, _ = runner.prepare_weights(summary, net, {}, np.float64, rng)
    folded = runner.fold_batchnorms(net, params)
    epilogues, fused = runner.fuse_epilogues(net, folded)
    x = rng.standard_normal((batch, 4, 12, 12))
    return net, summary, params, folded | fused, epilogues, x


@pytest.mark.parametrize("threads, batch, sizes", [(2, 5, [2, 3]), (3, 7, [2, 2, 3]), (3, 2, [1, 1]), (2, 1, [1])])
def test_a_batch_runs_as_parts_that_give_the_whole_pass(monkeypatch, threads, batch, sizes):
    """Several samples worth the threads run as parts, each the whole network on its
    samples (a squeeze-excitation gate, a residual add, fused activations, a folded
    BatchNorm), BLAS on one thread meanwhile: the output is each sample's own pass, each
    layer's shape the whole batch's. One sample runs whole."""
    monkeypatch.setattr(kernels, "THREADS", threads)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    net, _, params, folded, epilogues, x = parts_case(batch)
    calls = []
    real = runner.run_nodes

    def spy(network, params, feeds, *rest):
        calls.append((len(feeds), blas_threads()))
        return real(network, params, feeds, *rest)

    monkeypatch.setattr(runner, "run_nodes", spy)
    out, kept, timings = runner.execute(net, params, x, folded=folded, epilogues=epilogues)
    monkeypatch.setattr(runner, "run_nodes", real)
    alone = np.concatenate([real(net, params, x[n : n + 1], False, None, None, folded, None, epilogues)[0] for n in range(batch)])
    np.testing.assert_allclose(out, alone, rtol=1e-12, atol=1e-12)
    assert sorted(size for size, _ in calls) == sorted(sizes)
    assert all(threads_then == (1 if len(sizes) > 1 else blas_threads()) for _, threads_then in calls)
    assert [shape[0] for _, shape, _ in timings] == [batch] * len(net.nodes) and kept == {}
    assert runner.part_sizes(batch) == sizes


def test_parts_stop_where_a_shape_differs_and_a_failing_part_stops_the_others(monkeypatch):
    """With expected shapes, every part stops at the first layer whose real output differs
    and the pass returns that layer's output, joined. A part that raises stops the other
    at its next layer (run_parts), and the error reaches the caller; BLAS has its threads
    back."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    net, summary, params, folded, epilogues, x = parts_case(4)
    expected = {row.name: runner.batched(row.output_shape, 4) for row in summary.layers}
    expected["gate"] = (4, 8, 2, 2)  # what a wrong shape rule would have said
    out, _, timings = runner.execute(net, params, x, expected=expected, folded=folded, epilogues=epilogues)
    assert timings[-1][0].name == "gate" and out.shape == (4, 8, 1, 1)
    whole = runner.run_nodes(net, params, x, False, None, expected, folded, None, epilogues)[0]
    np.testing.assert_allclose(out, whole, rtol=1e-12, atol=1e-12)

    failed = []
    gate = next(node.layer for node in net.nodes if node.name == "gate")
    forward = type(gate).forward

    def failing(self, inputs, *args, **kwargs):
        if self is gate and not failed:
            failed.append(len(inputs[0]))
            raise RuntimeError("a layer failed in one part")
        return forward(self, inputs, *args, **kwargs)

    monkeypatch.setattr(type(gate), "forward", failing)
    with threadpool_limits(2, user_api="blas"):
        with pytest.raises(RuntimeError, match="one part"):
            runner.execute(net, params, x)
        assert blas_threads() == 2
    assert failed == [2]


def test_kept_or_held_values_keep_the_batch_whole(monkeypatch):
    """Every value kept (cnncalc run --save) or some held (rf --verify): one pass."""
    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    net, _, params, _, _, x = parts_case(4)
    seen = []
    real = runner.run_nodes
    monkeypatch.setattr(runner, "run_nodes", lambda network, params, feeds, *rest: seen.append(len(feeds)) or real(network, params, feeds, *rest))
    runner.execute(net, params, x, keep=True)
    runner.execute(net, params, x, held={"gate": {"gate": np.zeros((1, 8, 1, 1))}})
    assert seen == [4, 4]
    assert runner.part_sizes(4, whole=True) == [4]


@pytest.mark.parametrize("many", [True, False])
def test_a_large_layer_s_tiles_are_the_threads_items_with_blas_on_one_thread(monkeypatch, many):
    """From TILE_ITEMS tiles per thread, each thread gathers and multiplies a tile at a
    time, BLAS on one thread meanwhile and as before after (blas_alone); fewer tiles are
    gathered on the threads and multiplied on BLAS's. Either way PyTorch's values."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((1, 6, 20, 20)), rng.standard_normal((4, 6, 3, 3)), rng.standard_normal(4)
    per_position = 6 * 9 * 8
    monkeypatch.setattr(kernels, "TILE_BYTES", per_position * (20 if many else 200))  # 18 tiles of a row, or 2 of 11 rows
    during = []

    def epilogue(part):
        during.append(blas_threads())
        np.maximum(part, 0, out=part)

    with threadpool_limits(2, user_api="blas"):
        with kernels.forward_threads():
            got = kernels.conv(x, w, b, [1, 1], [(1, 1)] * 2, [2, 2], 1, epilogue=epilogue)
            assert blas_threads() == 2
    expected = F.relu(F.conv2d(*(torch.tensor(a) for a in (x, w, b)), padding=1, dilation=2)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert len(during) == (18 if many else 2) and set(during) == ({1} if many else {2})
    workspace = kernels.conv_workspace(x.shape, w.shape, 1, [1, 1], [(1, 1)] * 2, [2, 2], "zeros", 8)
    assert workspace == (2 if many else 1) * kernels.tile_positions((18, 18), per_position) * per_position  # a tile on each thread


@pytest.mark.parametrize("track", [False, True])
def test_a_batchnorm_by_the_batch_s_own_statistics_keeps_the_batch_whole(monkeypatch, track):
    """A BatchNorm without running statistics normalises by the whole batch's (PyTorch's
    eval mode does too): parts would each use their own (found in review: 0.117 off).
    With running statistics, or an instance norm (each sample's own), parts are taken."""
    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    net = cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - conv2d: {out: 4, kernel: 3, padding: 1}\n"
                        f"  - batchnorm: {{track_running_stats: {str(track).lower()}}}\n  - instancenorm2d\n", format="yaml")
    summary = cnncalc.summary(net)
    params, _, _ = runner.prepare_weights(summary, net, {}, np.float64, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((4, 3, 8, 8))
    seen = []
    real = runner.run_nodes
    monkeypatch.setattr(runner, "run_nodes", lambda network, params, feeds, *rest: seen.append(len(feeds)) or real(network, params, feeds, *rest))
    got, _, _ = runner.execute(net, params, x)
    conv, norm = torch.nn.Conv2d(3, 4, 3, padding=1).double(), torch.nn.BatchNorm2d(4, track_running_stats=track).double().eval()
    conv_name, norm_name = (node.name for node in net.nodes[:2])
    with torch.no_grad():
        conv.weight[...], conv.bias[...] = (torch.tensor(params[conv_name][k]) for k in ("weight", "bias"))
        norm.weight[...], norm.bias[...] = (torch.tensor(params[norm_name][k]) for k in ("weight", "bias"))
        if track:
            norm.running_mean[...], norm.running_var[...] = (torch.tensor(params[norm_name][k]) for k in ("running_mean", "running_var"))
        expected = F.instance_norm(norm(conv(torch.tensor(x)))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert sorted(seen) == ([2, 2] if track else [4])
    assert runner.mixes_samples(net) is not track


def test_an_interrupt_while_the_caller_waits_stops_the_others_before_it_is_raised(monkeypatch):
    """Ctrl-C reaching the calling thread while it waits for the pool's items (its own
    share done) is recorded where the items can see it, and the items still running are
    waited for: nothing runs on after parallel() raises (found in review: a batch's part
    ran on through every layer)."""
    import concurrent.futures
    import threading

    monkeypatch.setattr(kernels, "THREADS", 2)
    monkeypatch.setattr(kernels, "PARALLEL_BYTES", 0)
    caller, after, raised, started = threading.get_ident(), [], threading.Event(), threading.Event()
    failures: list = []

    def item(i):
        if threading.get_ident() == caller:
            started.wait(5)  # the pool's thread has the other item
            return
        started.set()
        while not failures:  # a long item on the pool's thread, reading the failures as it goes
            time.sleep(0.001)
        after.append(raised.is_set())

    real = concurrent.futures.Future.result
    interrupted = []

    def result(self, timeout=None):
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        return real(self, timeout)

    monkeypatch.setattr(concurrent.futures.Future, "result", result)
    with pytest.raises(KeyboardInterrupt):
        try:
            kernels.parallel(item, range(2), 2**30, failures=failures)
        finally:
            raised.set()
    assert after == [False] and isinstance(failures[0], KeyboardInterrupt)
