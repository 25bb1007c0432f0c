"""Convolutions that work on channels-last memory: depthwise and 1x1.

An array here is always indexed channels first, (N, C, *spatial), as everywhere in the
kernels; only its memory differs. `np.moveaxis(result, -1, 1)` of a C-ordered
(N, *spatial, C) buffer is such an array: every NumPy operation reads it correctly, and
an element-wise one (add, multiply, an activation) writes its result in the same order.
So a layer may hand on channels-last memory and nothing after it needs to know.

Depthwise (each channel its own kernel). Channels first, one tap's multiply-add runs over
one channel's row at a time: on the 7x7 and 14x14 maps of MobileNetV2 and EfficientNet,
runs of 7 to 14 values, so NumPy spends its time starting loops. Channels last, the C
channels of a position are contiguous, and `np.einsum` over a strided view of the padded
input (output position, tap, channel) makes every output the sum of its taps in one
loop, out += x * w over the channels, with no temporary per tap. Where the last spatial
axis has stride 1, that axis and the channels merge into one run (the kernel repeated
along it), which keeps the runs long when the channels are few. The work goes a chunk of
output rows at a time (CHUNK_BYTES), each with its padded input rows, on the kernels'
threads; the bias and the fused activation are applied to the chunk as it is written.

1x1 with stride 1 over channels-last memory is one matrix product for the whole batch,
(N x positions, C) @ (C, out), written channels last with no gathering.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

CHUNK_BYTES = 256 * 2**10  # a depthwise chunk's output rows: with its input rows, in the core's cache (measured best)
MERGED_BYTES = 512 * 2**10  # the largest kernel repeated along the last axis (it is read for every row)
BIAS_RUN = 4096  # values of a bias repeated along the channels-last memory it is added to (add_bias)
LETTERS_OUT, LETTERS_TAP = "abc", "ijk"


def repeated_bias(bias: np.ndarray) -> np.ndarray:
    """The bias repeated to a run of at least BIAS_RUN values, a whole number of copies,
    for add_bias."""
    return np.tile(bias, max(1, -(-BIAS_RUN // bias.size)))


def add_bias(target: np.ndarray, repeated: np.ndarray) -> None:
    """target (C-contiguous, channels last, its size a whole number of positions) += the
    bias, as `repeated` (repeated_bias) along runs of its memory. Broadcast along the last
    axis, NumPy starts a loop for every position's C values: 0.35-0.7 ns a value here for
    C = 16-576, against 0.18-0.19 ns for runs of thousands."""
    flat = np.reshape(target, -1, copy=False)  # a view: raises rather than add to a copy
    whole = flat.size // repeated.size * repeated.size
    if whole:
        runs = flat[:whole].reshape(-1, repeated.size)
        np.add(runs, repeated, out=runs)
    if whole < flat.size:
        rest = flat[whole:]
        np.add(rest, repeated[: rest.size], out=rest)


def is_channels_last(x: np.ndarray) -> bool:
    """Is x (N, C, *spatial) laid out channels last in memory (and not also channels first)?"""
    return x.ndim >= 3 and not x.flags.c_contiguous and np.moveaxis(x, 1, -1).flags.c_contiguous


# -- depthwise ----------------------------------------------------------------------------


class Plan:
    """How a depthwise convolution is cut: chunks of `rows` output rows (the first spatial
    axis), each read from a padded buffer of `extent` input positions; `merged` when the
    last axis and the channels form one run.

    A buffer covers input positions start + p along each axis (start = -padding before):
    along every axis but the first the same ones for every chunk, so the part of it that
    falls outside the input (`inside`, the rest) is zeroed once, when the buffer is made,
    and a chunk copies only its rows of the input in."""

    def __init__(self, shape, kernel, stride, pairs, dilation, itemsize: int):
        _, channels, *size = shape
        self.channels, self.size, self.kernel = channels, list(size), list(kernel)
        self.stride, self.pairs, self.dilation = list(stride), list(pairs), list(dilation)
        from .kernels import conv_output_size

        self.out = conv_output_size(size, kernel, stride, pairs, dilation)
        rank = len(kernel)
        row = math.prod(self.out[1:]) * channels * itemsize
        self.rows = max(1, min(self.out[0], CHUNK_BYTES // max(row, 1)))
        # the input positions the outputs read along each axis (fewer than padded when the
        # last ones go unread), and along the first axis for one chunk of rows
        self.extent = [(o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(self.out, kernel, stride, dilation)]
        self.extent[0] = self.row_extent(self.rows)
        merged_bytes = math.prod(kernel) * self.out[-1] * channels * itemsize
        self.merged = rank >= 2 and self.stride[-1] == 1 and merged_bytes <= MERGED_BYTES
        # along each later axis: the buffer's positions inside the input, and those input positions
        self.inside = [slice(0, 0)] * rank
        self.source = [slice(0, 0)] * rank
        for axis in range(1, rank):
            start = -self.pairs[axis][0]
            low, high = max(0, -start), min(self.extent[axis], self.size[axis] - start)
            self.inside[axis] = slice(low, max(low, high))
            self.source[axis] = slice(low + start, max(low, high) + start)

    def row_extent(self, rows: int) -> int:
        return (rows - 1) * self.stride[0] + (self.kernel[0] - 1) * self.dilation[0] + 1

    def buffer_elements(self) -> int:
        return math.prod(self.extent) * self.channels

    def kernel_elements(self) -> int:
        return math.prod(self.kernel) * self.channels * (self.out[-1] if self.merged else 1)

    def chunks(self, batch: int) -> list[tuple[int, int, int]]:
        """(sample, first output row, end row) of every chunk."""
        return [(n, r, min(r + self.rows, self.out[0])) for n in range(batch) for r in range(0, self.out[0], self.rows)]

    def buffer(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        """A padded buffer (*extent, C), zero, and its taps' view for `rows` output rows
        (tap_view): a chunk of fewer rows uses the first rows of both."""
        padded = np.zeros((*self.extent, self.channels), dtype=dtype)
        return padded, tap_view(padded, self.rows, self.out, self)

    def fill(self, padded: np.ndarray, sample: np.ndarray, first: int, last: int) -> None:
        """The input rows that output rows [first, last) read, from `sample` (*size, C) into
        the buffer's first rows; those before or past the input zero (the other axes'
        padding is zero from the start and never written)."""
        start = first * self.stride[0] - self.pairs[0][0]
        extent = self.row_extent(last - first)
        low, high = max(0, -start), min(extent, self.size[0] - start)
        high = max(low, high)
        if low:
            padded[:low] = 0
        if high < extent:
            padded[high:extent] = 0
        if high > low:
            padded[(slice(low, high), *self.inside[1:])] = sample[(slice(low + start, high + start), *self.source[1:])]


def depthwise_workspace(shape, weight_shape, stride, pairs, dilation, itemsize: int, threads: int) -> int:
    """Bytes besides the result: the kernel laid out channels last (repeated when merged)
    and a padded chunk of input rows on each thread."""
    plan = Plan(shape, weight_shape[2:], stride, pairs, dilation, itemsize)
    chunks = shape[0] * -(-plan.out[0] // plan.rows)
    return (plan.kernel_elements() + min(threads, chunks) * plan.buffer_elements()) * itemsize


def depthwise(x, weight, bias, stride, pairs, dilation, epilogue=None) -> np.ndarray:
    """PyTorch's depthwise convNd (weight (C, 1, *kernel), zero padding) of x (N, C, *size),
    any memory order; the result is (N, C, *out) over channels-last memory. `epilogue`
    is applied to each chunk once written, bias added. A chunk costs a handful of NumPy
    calls (its rows copied in, one einsum, the bias, the epilogue): on small maps there
    are many, and their Python was most of the time."""
    from .kernels import borrowed, parallel, take_cores

    batch = x.shape[0]
    kernel = weight.shape[2:]
    rank = len(kernel)
    plan = Plan(x.shape, kernel, stride, pairs, dilation, x.itemsize)
    channels, out = plan.channels, plan.out
    result = np.empty((batch, *out, channels), dtype=x.dtype)
    take_cores(result.nbytes)  # a large one is the pool's work: BLAS's threads, spinning after their products, would slow it
    targets = result.reshape(batch, *out[:-1], out[-1] * channels) if plan.merged else result  # what the einsum writes
    source = x.transpose(0, *range(2, rank + 2), 1)  # (N, *size, C)
    taps = weight.reshape(channels, -1).T.copy().reshape(*kernel, channels)  # (*kernel, C), contiguous
    if plan.merged:  # each tap's C weights repeated along the last output axis
        weights = np.empty((*kernel, out[-1], channels), dtype=x.dtype)
        weights[...] = taps[..., None, :]
        weights = weights.reshape(*kernel, out[-1] * channels)
        outs = LETTERS_OUT[: rank - 1]
    else:
        weights = taps
        outs = LETTERS_OUT[:rank]
    tap_letters = LETTERS_TAP[:rank]
    subscripts = f"{outs}{tap_letters}z,{tap_letters}z->{outs}z"
    chunks = plan.chunks(batch)
    free: list = []  # buffers not in use (kernels.borrowed)
    repeated = None if bias is None else repeated_bias(bias)

    def run(chunk) -> None:
        n, first, last = chunk
        with borrowed(free, lambda: plan.buffer(x.dtype)) as (padded, view):
            plan.fill(padded, source[n], first, last)
            np.einsum(subscripts, view[: last - first], weights, out=targets[n, first:last])
            target = result[n, first:last]
            if repeated is not None:
                add_bias(target, repeated)
            if epilogue is not None:
                epilogue(target)

    parallel(run, chunks, result.nbytes * math.prod(kernel))
    return result.transpose(0, rank + 1, *range(1, rank + 1))


def tap_view(padded: np.ndarray, rows: int, out, plan: Plan) -> np.ndarray:
    """(rows, *out[1:], *kernel, C) read from `padded`: output position o and tap t read
    o * stride + t * dilation along each axis; when merged, the last output axis and the
    channels are one run (its stride 1: consecutive positions' channels are contiguous)."""
    steps = padded.strides[:-1]
    item = padded.strides[-1]
    out_shape = [rows, *out[1:]]
    out_strides = [s * step for s, step in zip(plan.stride, steps)]
    tap_strides = [d * step for d, step in zip(plan.dilation, steps)]
    if plan.merged:
        shape = (*out_shape[:-1], *plan.kernel, out_shape[-1] * plan.channels)
        strides = (*out_strides[:-1], *tap_strides, item)
    else:
        shape = (*out_shape, *plan.kernel, plan.channels)
        strides = (*out_strides, *tap_strides, item)
    return as_strided(padded, shape, strides, writeable=False)


# -- 1x1 ----------------------------------------------------------------------------------


def pointwise_applies(x: np.ndarray, weight_shape, stride, pairs, groups: int) -> bool:
    """A 1x1 kernel, stride 1, no padding, one group, over channels-last memory."""
    return (groups == 1 and all(k == 1 for k in weight_shape[2:]) and all(s == 1 for s in stride)
            and not any(a or b for a, b in pairs) and is_channels_last(x))


def pointwise(x, weight, bias, epilogue=None) -> np.ndarray:
    """x (N, C, *size) over channels-last memory times weight (out, C, 1, ...): one product
    (N x positions, C) @ (C, out) into channels-last memory, then the bias and the
    epilogue."""
    from .base import chained
    from .kernels import matmul

    batch, channels, *size = x.shape
    out_channels = weight.shape[0]
    positions = batch * math.prod(size)
    result = np.empty((batch, *size, out_channels), dtype=x.dtype)
    target = result.reshape(positions, out_channels)

    repeated = None if bias is None else repeated_bias(bias)

    def biased(part):
        add_bias(part, repeated)

    # chained keeps the epilogue's .pieces, which has matmul take the cores before an expensive one
    finish = chained(biased if bias is not None else None, epilogue)
    matmul(np.moveaxis(x, 1, -1).reshape(positions, channels), weight.reshape(out_channels, channels).T, target, finish)
    return np.moveaxis(result, -1, 1)
