"""Winograd's minimal filtering for 3x3 convolutions with stride 1 (Lavin and Gray, "Fast
Algorithms for Convolutional Neural Networks", CVPR 2016).

F(m x m, 3 x 3) computes an m x m tile of outputs from an (m + 2) x (m + 2) tile of inputs
with (m + 2)^2 multiplications per input and output channel pair instead of 9 m^2:

    Y = A^T [ (G g G^T) . (B^T d B) ] A        (. element-wise, summed over input channels)

F(2x2, 3x3) does 2.25 times fewer multiplications than the direct form, F(4x4, 3x3) 4 times
fewer. Everything is a matrix product here: the weights' transform U = G g G^T (one product
of kron(G, G) with the kernels), the inputs' B^T d B (two products with B^T over the tile's
rows and columns), the element-wise stage as (m + 2)^2 products (out x in) @ (in x tiles)
summing over the input channels, and the outputs' A^T M A (two products).

The price is rounding: the transforms' coefficients grow with the tile (B^T of F(4x4) has
entries up to 5, A^T up to 8), so a float32 result differs from the exact one by more than
the direct form's. BOUND below states it, measured against a float64 reference (and held
by tests/test_fast_forward.py); cnncalc.layers.kernels picks the direct form or a tile per
layer by cost, in float32 only.

Tiles are processed in bands (several whole samples, or some tile rows of one sample)
whose two buffers together stay within BAND_BYTES, or the transformed weights' size when
that is larger, so the working memory is bounded per layer. A band's input tiles are one
copy of overlapping windows (a strided view) of its inputs zero-padded once.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

# The transforms of Lavin and Gray (2016), section 4.1 and 4.2: interpolation points 0, 1, -1
# for F(2, 3) and 0, 1, -1, 2, -2 for F(4, 3), each with the point at infinity.
TRANSFORMS = {
    2: (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],  # B^T
        [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],  # G
        [[1, 1, 1, 0], [0, 1, -1, -1]],  # A^T
    ),
    4: (
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}
# The float32 rounding bound of each tile, per output map: in every sample n and output
# channel o, |y32 - y| <= BOUND * (sum |w[o]| * max |x[n]| + |b[o]|): the sum of the map's
# kernel's magnitudes over every input channel, times the sample's largest input. Not
# relative to an output's own terms: the transforms mix a tile's inputs and all nine
# weights, so an output that reads one input (a 1x1 map inside its padding, a sparse
# input) still carries the rounding of the others. Measured once over 3,000 random layers
# of 1 to 64 channels (a third of them sparse) and 1,500 degenerate ones (1 to 256
# channels: a 1x1 input padded on every side, one nonzero input, inputs and weights over
# ten orders of magnitude): at most 2.0e-7 for F(2x2) and 2.4e-6 for F(4x4). The bounds
# leave a margin of 4 to 5.
BOUND = {2: 1e-6, 4: 1e-5}
BAND_BYTES = 6 * 2**20  # the band's two buffers: fit the last-level cache with the weights' share


def transformed_weights(weight: np.ndarray, m: int) -> np.ndarray:
    """U = G g G^T for every (out, in) pair, as ((m + 2)^2, out, in) in the weights' dtype:
    one product of kron(G, G) with the kernels, written straight into U's layout."""
    _, g, _ = TRANSFORMS[m]
    g = np.asarray(g, dtype=weight.dtype)
    out_channels, channels = weight.shape[:2]
    u = np.empty(((m + 2) ** 2, out_channels * channels), dtype=weight.dtype)
    np.matmul(np.kron(g, g), weight.reshape(out_channels * channels, 9).T, out=u)
    return u.reshape(-1, out_channels, channels)


LARGEST = 2.0**60  # inputs or weights above this (or not finite) take the direct form


def moderate(x: np.ndarray) -> bool:
    """Is every value of x finite and at most LARGEST in magnitude? A tile's transform adds
    up to 36 of its inputs with factors up to 25: an infinite or huge one would spread over
    the whole tile (inf - inf), where the direct form keeps it to the outputs that read it."""
    return x.size == 0 or bool(x.max() <= LARGEST and x.min() >= -LARGEST)


def output_size(size, pairs) -> list[int]:
    return [n + a + b - 2 for n, (a, b) in zip(size, pairs)]


def band_plan(batch: int, size, pairs, channels: int, out_channels: int, m: int, itemsize: int):
    """(samples, rows): a band is `samples` whole samples when one sample's tiles fit its
    budget, else `rows` tile rows of one sample (samples = 0)."""
    alpha = m + 2
    heights, widths = (-(-n // m) for n in output_size(size, pairs))
    per_tile = 2 * alpha * alpha * max(channels, out_channels) * itemsize
    # at least as large as the transformed weights, which every band reads whole: fewer,
    # wider products over more tiles when the weights are large (512 x 512 channels: 38 MB)
    budget = max(BAND_BYTES, alpha * alpha * channels * out_channels * itemsize)
    tiles = max(budget // per_tile, 1)
    if heights * widths <= tiles:
        return max(1, min(batch, tiles // (heights * widths))), heights
    return 0, max(1, min(heights, tiles // widths))


def band_tiles(batch: int, size, pairs, channels: int, out_channels: int, m: int, itemsize: int) -> int:
    samples, rows = band_plan(batch, size, pairs, channels, out_channels, m, itemsize)
    widths = -(-output_size(size, pairs)[1] // m)
    return max(samples, 1) * rows * widths


def workspace(shape, weight_shape, pairs, m: int, itemsize: int) -> int:
    """Bytes conv2d allocates besides its result for a batch of `shape` (N, C, H, W): the
    transformed weights, a band's two buffers and its zero-padded inputs."""
    batch, channels, *size = shape
    out_channels = weight_shape[0]
    alpha = m + 2
    u = alpha * alpha * out_channels * channels * itemsize
    tiles = band_tiles(batch, size, pairs, channels, out_channels, m, itemsize)
    return u + 2 * alpha * alpha * max(channels, out_channels) * tiles * itemsize + padded_elements(batch, size, pairs, channels, out_channels, m, itemsize) * itemsize


def padded_elements(batch: int, size, pairs, channels: int, out_channels: int, m: int, itemsize: int) -> int:
    """A band's inputs, zero-padded: (samples, C, tile rows x m + 2, tile columns x m + 2)."""
    samples, rows = band_plan(batch, size, pairs, channels, out_channels, m, itemsize)
    widths = -(-output_size(size, pairs)[1] // m)
    return max(samples, 1) * channels * (rows * m + 2) * (widths * m + 2)


def conv2d(x: np.ndarray, weight: np.ndarray, bias, pairs, m: int, epilogue=None) -> np.ndarray:
    """A 3x3 convolution with stride 1 and dilation 1 over (N, C, H, W), zero padding
    `pairs` ((top, bottom), (left, right)), by F(m x m, 3 x 3). `epilogue(band)`, when
    given, is applied in place to each band of the result once written (a fused activation)."""
    from .kernels import fill_outside, matmul, parallel, tap_region

    batch, channels, height, width = x.shape
    out_channels = weight.shape[0]
    alpha = m + 2
    bt, _, at = (np.asarray(t, dtype=x.dtype) for t in TRANSFORMS[m])
    u = transformed_weights(weight, m)
    out_h, out_w = output_size((height, width), pairs)
    heights, widths = -(-out_h // m), -(-out_w // m)
    result = np.empty((batch, out_channels, out_h, out_w), dtype=x.dtype)
    samples, rows = band_plan(batch, (height, width), pairs, channels, out_channels, m, x.itemsize)
    size = alpha * alpha * max(channels, out_channels) * max(samples, 1) * rows * widths
    first, second = np.empty(size, dtype=x.dtype), np.empty(size, dtype=x.dtype)
    (top, _), (left, _) = pairs
    if samples:
        bands = [(n, min(n + samples, batch), 0, heights) for n in range(0, batch, samples)]
    else:
        bands = [(n, n + 1, r, min(r + rows, heights)) for n in range(batch) for r in range(0, heights, rows)]
    padded_cols = widths * m + 2
    padded = np.empty(padded_elements(batch, (height, width), pairs, channels, out_channels, m, x.itemsize), dtype=x.dtype)
    for n0, n1, r0, r1 in bands:
        count = (n1 - n0) * (r1 - r0) * widths  # tiles in the band
        # the band's inputs, zero-padded: p[n, c, a, b] = x[n0 + n, c, r0*m - top + a, b - left]
        p = padded[: (n1 - n0) * channels * ((r1 - r0) * m + 2) * padded_cols].reshape(n1 - n0, channels, (r1 - r0) * m + 2, padded_cols)
        region = tap_region(((0, p.shape[2]), (0, padded_cols)), (r0 * m - top, -left), (1, 1), (height, width))
        if region is None:
            p[...] = 0
        else:
            inner, source = region
            fill_outside(p, inner, 0)
            p[(slice(None), slice(None), *inner)] = x[(slice(n0, n1), slice(None), *source)]
        # d[i, j, c, n, r, t] = p[n, c, r*m + i, t*m + j]: one copy of overlapping windows
        d = first[: alpha * alpha * channels * count].reshape(alpha, alpha, channels, n1 - n0, r1 - r0, widths)
        sn, sc, sa, sb = p.strides
        windows = as_strided(p, d.shape, (sa, sb, sc, sn, m * sa, m * sb), writeable=False)
        parallel(lambda i, d=d, windows=windows: np.copyto(d[i], windows[i]), range(alpha), d.nbytes)
        # V = B^T d B: over the rows (i), then the columns (j)
        rows_done = second[: d.size].reshape(alpha, alpha * channels * count)
        matmul(bt, d.reshape(alpha, -1), rows_done)
        v = first[: d.size].reshape(alpha, alpha, channels * count)
        matmul(bt, rows_done.reshape(alpha, alpha, -1), v)
        # M = U V for each of the alpha^2 points, summed over the input channels
        products = second[: alpha * alpha * out_channels * count].reshape(alpha * alpha, out_channels, count)
        matmul(u, v.reshape(alpha * alpha, channels, count), products)
        # Y = A^T M A
        half = first[: m * alpha * out_channels * count].reshape(m, alpha * out_channels * count)
        matmul(at, products.reshape(alpha, -1), half)
        y = second[: m * m * out_channels * count].reshape(m, m, out_channels * count)
        matmul(at, half.reshape(m, alpha, -1), y)
        y = y.reshape(m, m, out_channels, n1 - n0, r1 - r0, widths)
        band = result[n0:n1, :, r0 * m : min(r1 * m, out_h)]

        def scatter(point, y=y, band=band):
            i, j = divmod(point, m)
            kept_rows, kept_cols = len(range(i, band.shape[2], m)), len(range(j, out_w, m))
            if not kept_rows or not kept_cols:
                return
            source = y[i, j, :, :, :kept_rows, :kept_cols].transpose(1, 0, 2, 3)
            target = band[:, :, i::m, j::m]
            if bias is None:
                target[...] = source
            else:
                np.add(source, bias.reshape(1, -1, 1, 1), out=target)

        parallel(scatter, range(m * m), band.nbytes)
        if epilogue is not None:
            epilogue(band)
    return result


def multiplications(shape, out_channels: int, pairs, m: int) -> int:
    """The element-wise stage's multiply-adds for a batch of `shape` (N, C, H, W)."""
    batch, channels, *size = shape
    heights, widths = (-(-n // m) for n in output_size(size, pairs))
    return batch * heights * widths * (m + 2) ** 2 * channels * out_channels


def direct_multiplications(shape, out_channels: int, pairs) -> int:
    batch, channels, *size = shape
    return batch * math.prod(output_size(size, pairs)) * 9 * channels * out_channels
