"""NumPy kernels for the forward pass, channels first: (N, C, *spatial).

Convolution gathers its windows through a strided view (no copy) and multiplies them with
the weights through BLAS, a tile of output rows at a time so the gathered buffer stays
bounded (`TILE_BYTES`). Depthwise convolution multiplies and adds one kernel tap at a time
over whole tensors (no Python loop over channels). Transposed convolution is the matrix
product of the weights with the input, scattered back tap by tap (col2im). Pooling reduces
over a window view. Every rule follows PyTorch: padding, dilation, groups, ceil mode,
count_include_pad, output_padding, interpolation index arithmetic.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

TILE_BYTES = 4 * 2**20  # gathered windows per tile of a convolution: cache-sized (measured best)


def pad(x: np.ndarray, pairs: Sequence[tuple[int, int]], mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """Pads the spatial axes (2 onwards) by (before, after) pairs; negative values crop."""
    if all(a == 0 and b == 0 for a, b in pairs):
        return x
    crop = tuple(slice(max(-a, 0), x.shape[2 + i] - max(-b, 0)) for i, (a, b) in enumerate(pairs))
    x = x[(slice(None), slice(None), *crop)]
    widths = [(0, 0), (0, 0)] + [(max(a, 0), max(b, 0)) for a, b in pairs]
    numpy_mode = {"constant": "constant", "zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    if numpy_mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=numpy_mode)


def windows(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """View (N, C, *out, *kernel) of the windows of an already padded x (no copy)."""
    rank = len(kernel)
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    view = sliding_window_view(x, extent, axis=tuple(range(2, 2 + rank)))
    index = (slice(None), slice(None))
    index += tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride))
    index += tuple(slice(None, None, d) for d in dilation)
    return view[index]


def conv(x, weight, bias, stride, pairs, dilation, groups, mode="zeros") -> np.ndarray:
    """PyTorch's convNd: weight (out, in/groups, *kernel), explicit (before, after) padding."""
    x = pad(x, pairs, mode)
    batch, channels = x.shape[:2]
    out_channels, group_channels, *kernel = weight.shape
    rank = len(kernel)
    out_size = [(n - (d * (k - 1) + 1)) // s + 1 for n, k, s, d in zip(x.shape[2:], kernel, stride, dilation)]
    if group_channels == 1 and groups == channels and groups > 1:
        result = depthwise(x, weight, groups, stride, dilation, out_size)
    else:
        result = grouped(x, weight, groups, stride, dilation, out_size)
    if bias is not None:
        result += bias.reshape((1, -1) + (1,) * rank)
    return result


def depthwise(x, weight, groups, stride, dilation, out_size) -> np.ndarray:
    """Each channel with its own kernels: one multiply-add per kernel tap, whole tensors at once."""
    batch = x.shape[0]
    rank = len(out_size)
    kernel = weight.shape[2:]
    multiplier = weight.shape[0] // groups
    w = weight.reshape(groups, multiplier, *kernel)
    result = np.zeros((batch, groups, multiplier, *out_size), dtype=x.dtype)
    scratch = np.empty_like(result)
    for tap in np.ndindex(*kernel):
        plane = x[(slice(None), slice(None), *tap_slice(tap, dilation, stride, out_size))][:, :, None]
        np.multiply(plane, w[(slice(None), slice(None), *tap)].reshape((1, groups, multiplier) + (1,) * rank), out=scratch)
        result += scratch
    return result.reshape(batch, groups * multiplier, *out_size)


def tap_slice(tap, dilation, stride, out) -> tuple:
    """The input positions kernel tap `tap` reads for every output position: a strided slice."""
    return tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, s, o in zip(tap, dilation, stride, out))


def grouped(x, weight, groups, stride, dilation, out_size) -> np.ndarray:
    """Matrix products per group and per tile of output rows: W (out, C*K) @ cols (C*K, rows).

    The columns are gathered tap by tap (one strided copy each) into a buffer of at most
    TILE_BYTES; a 1x1 kernel with stride 1 needs no gathering at all.
    """
    batch, channels = x.shape[:2]
    rank = len(out_size)
    out_channels, per_group, *kernel = weight.shape
    volume = math.prod(kernel)
    w = weight.reshape(groups, out_channels // groups, per_group * volume)
    positions = math.prod(out_size)
    result = np.empty((batch, out_channels, positions), dtype=x.dtype)
    if volume == 1:
        picked = x[(slice(None), slice(None), *tap_slice((0,) * rank, dilation, stride, out_size))]
        columns = np.ascontiguousarray(picked).reshape(batch, groups, per_group, positions)
        for n in range(batch):
            result[n] = np.matmul(w, columns[n]).reshape(out_channels, positions)
        return result.reshape(batch, out_channels, *out_size)
    row = math.prod(out_size[1:])
    rows_per_tile = max(1, TILE_BYTES // max(channels * volume * row * x.itemsize, 1))
    taps = list(np.ndindex(*kernel))
    for n in range(batch):
        for start in range(0, out_size[0], rows_per_tile):
            stop = min(start + rows_per_tile, out_size[0])
            tile = (stop - start, *out_size[1:])
            columns = np.empty((channels, volume, *tile), dtype=x.dtype)
            for index, tap in enumerate(taps):
                region = tap_slice(tap, dilation, stride, out_size)
                first = region[0]
                rows = slice(first.start + start * first.step, first.start + (stop - 1) * first.step + 1, first.step)
                columns[:, index] = x[(n, slice(None), rows, *region[1:])]
            product = np.matmul(w, columns.reshape(groups, per_group * volume, -1))  # (G, out/G, rows)
            result[n, :, start * row : stop * row] = product.reshape(out_channels, -1)
    return result.reshape(batch, out_channels, *out_size)


def conv_transpose(x, weight, bias, stride, pairs, dilation, groups, output_padding) -> np.ndarray:
    """PyTorch's conv_transposeNd: weight (in, out/groups, *kernel).

    The full-length output (n - 1)*s + d*(k - 1) + 1 is built by scattering W^T x tap by
    tap (col2im); the result is its positions [before, before + out) with
    out = full - before - after + output_padding (zeros where that runs past the end).
    """
    batch, channels, *size = x.shape
    _, per_group_out, *kernel = weight.shape
    rank = len(kernel)
    out_channels = per_group_out * groups
    full = [(n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(size, kernel, stride, dilation)]
    out = [f - a - b + op for f, (a, b), op in zip(full, pairs, output_padding)]
    room = [max(f, a + o) for f, (a, _), o in zip(full, pairs, out)]
    result = np.zeros((batch, out_channels, *room), dtype=x.dtype)
    per_group_in = channels // groups
    w = weight.reshape(groups, per_group_in, per_group_out, -1)  # (G, Cin/G, Cout/G, K)
    xs = x.reshape(batch, groups, per_group_in, -1)  # (N, G, Cin/G, S)
    columns = np.matmul(w.transpose(0, 3, 2, 1)[None], xs[:, :, None])  # (N, G, K, Cout/G, S)
    for index, tap in enumerate(np.ndindex(*kernel)):
        target = tuple(slice(t * d, t * d + (n - 1) * s + 1, s) for t, d, n, s in zip(tap, dilation, size, stride))
        result[(slice(None), slice(None), *target)] += columns[:, :, index].reshape(batch, out_channels, *size)
    result = result[(slice(None), slice(None), *(slice(a, a + o) for (a, _), o in zip(pairs, out)))]
    if bias is not None:
        result = result + bias.reshape((1, -1) + (1,) * rank)
    return result


def pool(x, kernel, stride, pairs, dilation, ceil_extra, kind, count_include_pad=True) -> np.ndarray:
    """Max or average over windows. `pairs` is the padding; `ceil_extra` the positions ceil
    mode reads past it on the right (never counted, never the maximum)."""
    rank = len(kernel)
    fill = -np.inf if kind == "max" else 0.0
    padded = pad(x, pairs, "constant", fill)
    padded = pad(padded, [(0, e) for e in ceil_extra], "constant", fill)
    out = [(n - (d * (k - 1) + 1)) // s + 1 for n, k, s, d in zip(padded.shape[2:], kernel, stride, dilation)]
    taps = list(np.ndindex(*kernel))
    result = padded[(slice(None), slice(None), *tap_slice(taps[0], dilation, stride, out))].copy()
    combine = np.maximum if kind == "max" else np.add
    for tap in taps[1:]:
        combine(result, padded[(slice(None), slice(None), *tap_slice(tap, dilation, stride, out))], out=result)
    if kind == "max":
        return result
    # The divisor, window by window: PyTorch counts the padding (count_include_pad) but
    # never the positions past it; without count_include_pad only real inputs count.
    ones = np.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
    counted = pad(ones, pairs, "constant", 1.0 if count_include_pad else 0.0)
    counted = pad(counted, [(0, e) for e in ceil_extra], "constant", 0.0)
    divisor = windows(counted, kernel, stride, dilation, out).sum(axis=tuple(range(-rank, 0)))
    result /= divisor
    return result


def adaptive_pool(x, sizes, kind) -> np.ndarray:
    """Bin i spans floor(i*n/m) to ceil((i+1)*n/m) along each spatial axis (PyTorch)."""
    for axis, m in enumerate(sizes, start=2):
        n = x.shape[axis]
        if n % m == 0:  # equal bins: a strided window view
            step = n // m
            view = sliding_window_view(x, step, axis=axis)[(slice(None),) * axis + (slice(None, None, step),)]
            x = view.max(axis=-1) if kind == "max" else view.mean(axis=-1)
            continue
        parts = []
        for i in range(m):
            start, stop = (i * n) // m, -(-(i + 1) * n // m)
            chunk = np.take(x, range(start, stop), axis=axis)
            parts.append(chunk.max(axis=axis, keepdims=True) if kind == "max" else chunk.mean(axis=axis, keepdims=True))
        x = np.concatenate(parts, axis=axis)
    return x


def _source_scale(n: int, m: int, scale: float | None, align_corners: bool, kind) -> float:
    """PyTorch's area_pixel_compute_scale, in the precision its kernels use (`kind`)."""
    if align_corners:
        return kind((n - 1) / (m - 1)) if m > 1 else kind(0.0)
    if scale is not None and scale > 0:
        return kind(1.0 / scale)
    return kind(n / m)


def upsample(x, sizes, scales, mode, align_corners) -> np.ndarray:
    """nn.Upsample, one spatial axis at a time (every mode is separable)."""
    for i, m in enumerate(sizes):
        axis = 2 + i
        n = x.shape[axis]
        scale = scales[i] if scales is not None else None
        x = _resize_axis(x, axis, n, m, scale, mode, bool(align_corners))
    return x


def _resize_axis(x, axis, n, m, scale, mode, align_corners):
    out = np.arange(m, dtype=np.float32)
    if mode in ("nearest", "nearest-exact"):
        if m == n:
            return x
        factor = np.float32(1.0 / scale) if scale else np.float32(n / m)
        if mode == "nearest" and m == 2 * n:
            index = np.arange(m) >> 1
        elif mode == "nearest":
            index = np.minimum(np.floor(out * factor).astype(np.int64), n - 1)
        else:
            index = np.minimum(np.floor((out + np.float32(0.5)) * factor).astype(np.int64), n - 1)
        return np.take(x, index, axis=axis)
    # Linear modes compute coordinates in the input's precision (opmath_t), nearest in float.
    kind = x.dtype.type if x.dtype == np.float64 else np.float32
    out = np.arange(m, dtype=kind)
    ratio = _source_scale(n, m, scale, align_corners, kind)
    if align_corners:
        source = out * ratio
    else:
        source = ratio * (out + kind(0.5)) - kind(0.5)
    if mode == "bicubic":
        return _cubic(x, axis, n, source)
    source = np.maximum(source, kind(0.0))
    low = np.minimum(source.astype(np.int64), n - 1)
    high = np.minimum(low + 1, n - 1)
    weight = (source - low).astype(x.dtype)
    shape = [1] * x.ndim
    shape[axis] = m
    weight = weight.reshape(shape)
    return np.take(x, low, axis=axis) * (1 - weight) + np.take(x, high, axis=axis) * weight


def _cubic(x, axis, n, source):
    """Bicubic convolution (A = -0.75), taps clamped at the borders, as PyTorch."""
    a = -0.75
    floor = np.floor(source)
    t = (source - floor).astype(np.float64)
    base = floor.astype(np.int64)

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    coefficients = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    shape = [1] * x.ndim
    shape[axis] = len(source)
    result = 0
    for offset, c in zip((-1, 0, 1, 2), coefficients):
        index = np.clip(base + offset, 0, n - 1)
        result = result + np.take(x, index, axis=axis) * c.astype(x.dtype).reshape(shape)
    return result


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise (NumPy has none; math.erf is exact to double)."""
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)
