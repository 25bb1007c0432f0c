"""NumPy kernels for the forward pass, channels first: (N, C, *spatial).

Convolution multiplies the weights with gathered windows through BLAS, a tile of output
positions at a time (im2col); a 1x1 kernel with stride 1 is one product with no gathering;
a float32 3x3 kernel with stride 1 may run by Winograd's algorithm instead (winograd.py),
whichever costs less for the layer (conv_algorithm). Depthwise convolutions with zero
padding, and 1x1 convolutions over channels-last memory, run channels last (lastaxis.py)
and hand on channels-last memory; other depthwise ones zero-pad a block of channels once
and multiply and add one kernel tap at a time over contiguous runs of each channel's
values. Transposed convolution is the matrix product of the weights
with the input, scattered back tap by tap (col2im). Pooling combines one tap at a time
into its result. Every rule follows PyTorch: padding, dilation, groups, ceil mode,
count_include_pad, output_padding, interpolation index arithmetic.

A convolution adds its bias to each tile as the product writes it and applies an
`epilogue` there (the activation after it, fused by forward.runner.fuse_epilogues), while
the tile is in the cache. NumPy runs element-wise work on one core, so gathering,
scattering, depthwise blocks and epilogue pieces are spread over THREADS threads
(`parallel`); BLAS has its own.

Memory: each kernel allocates its result and a bounded workspace, and says how large in a
`*_workspace` function next to it, which the layers' `workspace` methods read (so the
peak memory of `cnncalc run` is known before it starts). Zero padding is never
materialised for a whole input: a tap reads only the input positions it really covers
(`tap_region`) and the rest of its gathered window is zero; gathered windows, products,
scatter buffers and padded channel blocks are built one tile of at most TILE_BYTES (or
DEPTHWISE_BYTES, a Winograd band) at a time, one sample at a time unless the samples are
small (batch_sample, Winograd's bands of whole samples).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
import time
from typing import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import lastaxis, winograd

def thread_count() -> int:
    """Threads for the kernels' element-wise work, which NumPy runs on one core (BLAS has
    its own): CNNCALC_THREADS, else OMP_NUM_THREADS or OPENBLAS_NUM_THREADS (what limits
    BLAS limits these too; OpenMP's '4,2' means 4 at the outer level), else every core."""
    for name in ("CNNCALC_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


THREADS = thread_count()
PARALLEL_BYTES = None  # work below this runs in the calling thread; None: PAYS hand-overs' worth (parallel_bytes)
MIN_PARALLEL_BYTES = 2**20  # below this, never worth a thread (and no measuring for it: a small network's pass stays short)
PAYS = 2  # work is worth a second thread from twice a hand-over's time on one core: half of it saved, one hand-over paid
EPILOGUE_SLAB = 2**20  # an element-wise layer's slab, made then finished by an epilogue (a residual add's ReLU) while in the cache
_pool: list = []  # the executor, made on first use
_pool_lock = threading.Lock()
_costs: dict = {}  # measured on first use: a hand-over's seconds, and what one core does in that time
class _Local(threading.local):
    inside = False  # this thread is running parallel()'s items


_local = _Local()
if hasattr(os, "register_at_fork"):  # a forked child has the executor but none of its threads
    os.register_at_fork(after_in_child=_pool.clear)


def executor():
    with _pool_lock:
        if not _pool:
            from concurrent.futures import ThreadPoolExecutor

            _pool.append(ThreadPoolExecutor(THREADS - 1, thread_name_prefix="cnncalc"))
    return _pool[0]


def handover() -> float:
    """The seconds of handing a job to an idle pool thread and hearing back, measured once
    (the median of seven). A thread asleep must be woken: a few microseconds on most
    machines, but 55 to 230 on a 2-vCPU Firecracker virtual machine (its idle cores
    halt), where NumPy adds two 1 MiB arrays in 60. Infinite, and not kept, with one
    thread or from inside parallel()'s items (the pool's thread may be the caller)."""
    if "handover" not in _costs:
        if THREADS == 1 or _local.inside:  # no pool; or its thread may be us
            return math.inf
        pool, trips = executor(), []
        for _ in range(7):
            start = time.perf_counter()
            pool.submit(int).result()
            trips.append(time.perf_counter() - start)
        _costs["handover"] = sorted(trips)[3]
    return _costs["handover"]


def per_second(step, times: int, amount: float) -> float:
    """`amount` (of whatever one `step()` does) a second: step once to warm up, then
    `times` timed."""
    step()
    start = time.perf_counter()
    for _ in range(times):
        step()
    return times * amount / (time.perf_counter() - start)


def parallel_bytes() -> float:
    """Work (bytes touched) below which parallel() keeps to the calling thread:
    PARALLEL_BYTES when set, else PAYS hand-overs' worth of one core's element-wise rate
    (an add over 64 KiB arrays, measured once: small enough for runner.SCRATCH_BYTES,
    in the middle of a pass), and at least MIN_PARALLEL_BYTES."""
    if PARALLEL_BYTES is not None:
        return PARALLEL_BYTES
    if "bytes" not in _costs:
        if math.isinf(handover()):
            return math.inf
        a, b = np.zeros(2**14, np.float32), np.ones(2**14, np.float32)
        rate = per_second(lambda: np.add(a, b, out=a), 16, 3 * a.nbytes)
        _costs["bytes"] = max(MIN_PARALLEL_BYTES, PAYS * handover() * rate)
    return _costs["bytes"]


def worth_threads(work: int | None) -> bool:
    """Is `work` (bytes touched; None: weighed by the caller) worth handing to threads?
    PARALLEL_BYTES decides when set; else work of MIN_PARALLEL_BYTES and parallel_bytes()."""
    if work is None:
        return True
    if THREADS == 1:
        return False
    if PARALLEL_BYTES is not None:
        return work >= PARALLEL_BYTES
    return work >= MIN_PARALLEL_BYTES and work >= parallel_bytes()


def parallel(function, items: Sequence, work: int | None, failures: list | None = None) -> None:
    """function(item) for every item, on THREADS threads (NumPy's loops release the GIL):
    the calling thread and THREADS - 1 pool threads take the items one at a time, in
    order, until none is left (so a pool thread that wakes late takes fewer), each under
    the caller's NumPy error settings (np.errstate is per thread). `work` is the bytes
    they touch in all: not worth_threads(), or called from inside such items, it runs
    them all in the calling thread; None when the caller has weighed the work itself
    (matmul, by its flops). Returns once every item has run; the first failure is raised
    then. `failures`, when given, is where failures are recorded as they happen (an
    item's, or an interrupt of the calling thread, also while it waits for the others):
    long items may read it to stop early, as every thread does between items. An
    interrupt while waiting does not abandon the items still running: they are waited
    for, and stop at their next step."""
    if THREADS == 1 or len(items) < 2 or _local.inside or not worth_threads(work):
        for item in items:
            function(item)
        return
    settings = np.geterr()
    order = iter(range(len(items)))  # shared: next() on it is one step under the GIL
    failures = [] if failures is None else failures
    futures: list = []

    def run():
        _local.inside = True
        try:
            with np.errstate(**settings):
                for index in order:
                    if failures:
                        return
                    function(items[index])
        except BaseException as failure:  # handed to the caller below, after every thread has stopped
            failures.append(failure)
        finally:
            _local.inside = False

    try:
        pool = executor()
        for _ in range(min(THREADS, len(items)) - 1):
            futures.append(pool.submit(run))
        run()
    except BaseException as failure:  # interrupted between submissions: the pool's runs stop too
        failures.append(failure)
    for future in futures:
        while True:
            try:
                future.result()
                break
            except BaseException as failure:  # interrupted while waiting: the runs stop at their next item
                failures.append(failure)
    if failures:  # an interrupt (not an Exception) first, whichever thread met it
        raise next((failure for failure in failures if not isinstance(failure, Exception)), failures[0])


_blas: dict = {"pass": None, "limiter": None, "found": None}  # the thread running a forward pass, its limit on BLAS's threads, the BLAS blas_alone found


@contextlib.contextmanager
def forward_threads():
    """One forward pass: BLAS keeps its own threads for its products until a kernel asks
    for the cores (own_threads); they are given back at the end."""
    _blas["pass"] = threading.get_ident()
    try:
        yield
    finally:
        _blas["pass"] = None
        _blas["found"] = None
        if _blas["limiter"] is not None:
            _blas["limiter"].restore_original_limits()
            _blas["limiter"] = None


# An activation computed in pieces over at least this many bytes at once has the rest of
# the pass run its products on the kernels' threads (take_cores), as does a product about
# to make such a part for one (matmul). Measured on EfficientNet-B0 (SiLU): at batch 8,
# whose largest parts are 38 MB, 0.8 of the time with BLAS's threads; at batch 1 (4.8 MB
# at most) and for cheap activations done in place (ReLU6 in MobileNetV2), BLAS's threads,
# hot between its products, were as fast or faster. A depthwise convolution making this
# many bytes does the same (the pool's work, beside BLAS's spinning threads): MobileNetV2
# at batch 8 took 0.84 of the time; at batch 1 (1.6 MB at most) taking the cores for the
# whole pass was slower (1.19).
OWN_THREADS_BYTES = 8 * 2**20


def own_threads() -> None:
    """From here to the end of the pass, BLAS runs in the calling thread only and the
    kernels split their products over their own threads (matmul). Called by element-wise
    work that needs every core (activation.in_pieces: exp, erf, ...): BLAS's threads spin
    on the cores after each product, for about a tenth of a second (OpenBLAS: 2^28 clock
    ticks), and took them from such work (measured: a two-thread SiLU right after a product
    ran at one thread's speed). Networks of products and cheap activations keep BLAS's threads,
    which run a product faster than two halves of it on one thread each. Nothing changes
    where threadpoolctl finds no BLAS it can limit. Only the thread running the pass acts,
    and not from inside parallel()'s items (a pool thread may be in a product then):
    OpenBLAS's thread count may be per thread, and the products are that thread's."""
    if _blas["pass"] != threading.get_ident() or _blas["limiter"] is not None or THREADS == 1 or _local.inside:
        return
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")  # made anew: a BLAS loaded since is seen
    if len(blas):
        _blas["limiter"] = blas.limit(limits=1)


FINISH_BYTES = 2**20  # a split product's part with a finish: its epilogue runs while the part is in the cache (measured best against 256 KiB and halves)
def take_cores(nbytes: int) -> None:
    """own_threads() for work of the kernels' threads (an activation computed in pieces, a
    depthwise convolution) over `nbytes` at once, from OWN_THREADS_BYTES."""
    if nbytes >= OWN_THREADS_BYTES:
        own_threads()


@contextlib.contextmanager
def blas_alone():
    """BLAS on one thread for the duration, then as before: for parallel() items that each
    run their own products (a large layer's tiles, tile_items). Nothing changes where BLAS
    is already limited (own_threads), inside items, with one thread, or off the pass's
    thread. The BLAS found is kept for the pass (finding it takes about 2 ms)."""
    if _blas["limiter"] is not None or _local.inside or THREADS == 1 or _blas["pass"] != threading.get_ident():
        yield
        return
    if _blas["found"] is None:
        from threadpoolctl import ThreadpoolController

        _blas["found"] = ThreadpoolController().select(user_api="blas")
    limiter = _blas["found"].limit(limits=1) if len(_blas["found"]) else None
    try:
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()


@contextlib.contextmanager
def borrowed(free: list, make):
    """One of the buffers in `free`, or a new one make()s, given back at the end: each
    thread at work in parallel() holds one, so there are at most THREADS. Taken with one
    list.pop, so two threads never take the same."""
    try:
        buffer = free.pop()
    except IndexError:
        buffer = make()
    try:
        yield buffer
    finally:
        free.append(buffer)


MATMUL_FLOPS = None  # a product below this runs in the calling thread; None: PAYS hand-overs' worth (matmul_flops)


def matmul_flops() -> float:
    """Products below this many flops stay whole in the calling thread when BLAS runs on
    one: MATMUL_FLOPS when set, else PAYS hand-overs' worth of a one-thread product's
    rate (96 x 96 x 96, measured once, where BLAS has been limited), and at least 2 M."""
    if MATMUL_FLOPS is not None:
        return MATMUL_FLOPS
    if "flops" not in _costs:
        if math.isinf(handover()):
            return math.inf
        a = np.ones((96, 96), np.float32)
        out = np.empty_like(a)
        rate = per_second(lambda: np.matmul(a, a, out=out), 8, 2 * 96**3)
        _costs["flops"] = max(2 * 2**20, PAYS * handover() * rate)
    return _costs["flops"]


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, finish=None) -> None:
    """out = a @ b (np.matmul, stacks broadcast); where BLAS runs on one thread (own_threads),
    on the kernels' THREADS threads: split along the stack when there is one, else along
    the longer of out's last two axes, rows in parts of about FINISH_BYTES when there is a
    `finish`. `finish(part)` is then applied in place to each part of out in the thread
    that made it, while it is in the cache: parts of whole rows (every column, as a bias
    along the last axis expects). A finish marked `.pieces` (an expensive activation,
    Activation.epilogue) takes the cores first when out is large (take_cores). Inside
    parallel()'s items, or below matmul_flops(), the product stays whole."""
    flops = 2 * out.size * a.shape[-1]
    if getattr(finish, "pieces", False):
        take_cores(out.nbytes)  # before the product, so that it is split into parts the threads finish in the cache
    if (_blas["limiter"] is None or _local.inside or flops < matmul_flops() or a.ndim < 2 or b.ndim < 2 or out.ndim > 3
            or (finish is not None and out.shape[-2] < THREADS)):
        np.matmul(a, b, out=out)
        if finish is not None:
            finish(out)
        return
    if out.ndim == 3 and out.shape[0] >= THREADS:
        axis, count = 0, out.shape[0]
    else:
        axis = out.ndim - 2 if out.shape[-2] >= out.shape[-1] or finish is not None else out.ndim - 1
        count = out.shape[axis]
    parts = min(count, THREADS)
    if finish is not None and axis == out.ndim - 2:  # parts small enough to be finished in the cache
        parts = min(count, max(THREADS, out.nbytes // FINISH_BYTES))
    bounds = [count * i // parts for i in range(parts + 1)]

    def part(i):
        cut = slice(bounds[i], bounds[i + 1])
        if axis == out.ndim - 2:  # rows: of a (b shared)
            left, right = a[..., cut, :], b
        elif axis == out.ndim - 1:  # columns: of b (a shared)
            left, right = a, b[..., cut]
        else:  # stack: of whichever operand has the whole stack (one of 1, or none, broadcasts)
            left, right = (operand[cut] if operand.ndim == 3 and operand.shape[0] == count else operand for operand in (a, b))
        target = out[(slice(None),) * axis + (cut,)]
        np.matmul(left, right, out=target)
        if finish is not None:
            finish(target)

    parallel(part, range(parts), None)  # weighed by its flops above


TILE_BYTES = 4 * 2**20  # one tile of gathered windows (or products, or W^T x): cache-sized (measured best)
ERF_CHUNK = 4096  # values handed to math.erf at a time: Python floats for these only
ERF_WORKSPACE = ERF_CHUNK * 96  # the chunk as Python floats (in and out) and a float64 copy

Box = tuple[tuple[int, int], ...]  # (start, stop) along each spatial axis


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


def pad_workspace(shape: Sequence[int], pairs: Sequence[tuple[int, int]], mode: str, itemsize: int) -> int:
    """Bytes `pad` allocates besides its result for a batch of this shape (N, C, *spatial):
    NumPy fills the new positions of a mode other than a constant through copies of edge
    slabs, never more than the new positions themselves."""
    if mode in ("constant", "zeros") or all(a <= 0 and b <= 0 for a, b in pairs):
        return 0
    kept = [n - max(-a, 0) - max(-b, 0) for n, (a, b) in zip(shape[2:], pairs)]
    padded = [n + max(a, 0) + max(b, 0) for n, (a, b) in zip(kept, pairs)]
    return (math.prod(padded) - math.prod(kept)) * math.prod(shape[:2]) * itemsize


# -- tiles and taps ------------------------------------------------------------------------


def tile_shape(sizes: Sequence[int], per_position: int) -> tuple[int, int]:
    """(axis, count): a tile is `count` positions along `axis`, one along each axis before it
    and all of every axis after it: the largest such box costing at most TILE_BYTES at
    `per_position` bytes a position (at least one position)."""
    budget = max(TILE_BYTES // max(per_position, 1), 1)  # positions a tile may hold
    for axis in range(len(sizes)):
        inner = math.prod(sizes[axis + 1 :])
        if inner <= budget:
            return axis, max(1, min(sizes[axis], budget // inner))
    raise AssertionError("unreachable: the last axis has inner size 1")


def tile_positions(sizes: Sequence[int], per_position: int) -> int:
    """Positions in the largest tile `tiles` makes."""
    axis, count = tile_shape(sizes, per_position)
    return count * math.prod(sizes[axis + 1 :])


def tiles(sizes: Sequence[int], per_position: int) -> Iterator[Box]:
    """Boxes covering positions `sizes`, each at most TILE_BYTES at per_position bytes a
    position (or one position), in C order."""
    axis, count = tile_shape(sizes, per_position)
    for index in itertools.product(*(range(n) for n in sizes[:axis])):
        for start in range(0, sizes[axis], count):
            yield (*((i, i + 1) for i in index), (start, min(start + count, sizes[axis])), *((0, n) for n in sizes[axis + 1 :]))


def tap_region(box: Box, offsets: Sequence[int], strides: Sequence[int], sizes: Sequence[int]):
    """Where the positions o of `box` map to o*stride + offset inside [0, size) along every
    axis: (slices of the box, slices of the array of `sizes` they map to), or None when
    some axis has none (a tap that reads only padding, or scatters only past the crop)."""
    inner, outer = [], []
    for (low, high), offset, s, n in zip(box, offsets, strides, sizes):
        first = max(low, -(offset // s))  # ceil(-offset / s)
        stop = min(high, (n - 1 - offset) // s + 1)
        if stop <= first:
            return None
        inner.append(slice(first - low, stop - low))
        outer.append(slice(first * s + offset, (stop - 1) * s + offset + 1, s))
    return tuple(inner), tuple(outer)


def fill_outside(view: np.ndarray, inner: Sequence[slice], value: float) -> None:
    """Sets the positions of `view` (its last len(inner) axes) outside the `inner` box."""
    rank = len(inner)
    for axis, part in enumerate(inner):
        after = (slice(None),) * (rank - axis - 1)
        if part.start > 0:
            view[(Ellipsis, slice(0, part.start), *after)] = value
        if part.stop < view.shape[view.ndim - rank + axis]:
            view[(Ellipsis, slice(part.stop, None), *after)] = value


def box_slices(box: Box) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in box)


# -- convolution ---------------------------------------------------------------------------


def conv_output_size(size, kernel, stride, pairs, dilation) -> list[int]:
    """floor((n + before + after - d*(k - 1) - 1) / s) + 1 along each axis."""
    return [(n + a + b - (d * (k - 1) + 1)) // s + 1 for n, k, s, (a, b), d in zip(size, kernel, stride, pairs, dilation)]


def is_depthwise(channels: int, weight_shape: Sequence[int], groups: int) -> bool:
    return weight_shape[1] == 1 and groups == channels and groups > 1


def depthwise_channels_last(channels: int, weight_shape: Sequence[int], groups: int, mode: str) -> bool:
    """Depthwise with one kernel per channel and zero padding: lastaxis.depthwise."""
    return is_depthwise(channels, weight_shape, groups) and weight_shape[0] == channels and mode == "zeros"


def conv(x, weight, bias, stride, pairs, dilation, groups, mode="zeros", epilogue=None) -> np.ndarray:
    """PyTorch's convNd: weight (out, in/groups, *kernel), explicit (before, after) padding.

    Zero padding is read lazily; another mode pads one sample at a time. A 3x3 kernel with
    stride 1 in float32 may run by Winograd's algorithm (conv_algorithm). `epilogue`, when
    given, is applied in place to each finished part of the result, bias added (a fused
    activation, while that part is still in the cache)."""
    batch, channels, *size = x.shape
    out_channels, _, *kernel = weight.shape
    rank = len(kernel)
    tile = conv_algorithm(x.shape, weight.shape, stride, pairs, dilation, groups, mode, x.itemsize)
    if tile and winograd.moderate(x) and winograd.moderate(weight):
        return winograd.conv2d(x, weight, bias, pairs, tile, epilogue)
    if depthwise_channels_last(channels, weight.shape, groups, mode):
        return lastaxis.depthwise(x, weight, bias, stride, pairs, dilation, epilogue)
    if lastaxis.pointwise_applies(x, weight.shape, stride, pairs, groups):
        return lastaxis.pointwise(x, weight, bias, epilogue)
    out_size = conv_output_size(size, kernel, stride, pairs, dilation)
    depthwise = is_depthwise(channels, weight.shape, groups)
    result = np.empty((batch, out_channels, *out_size), dtype=x.dtype)
    if depthwise:  # each block of channels as it is written
        finish = (bias, epilogue)
    else:  # each tile as its product is written
        finish = (bias.reshape((-1,) + (1,) * rank) if bias is not None else None, epilogue)
    together = samples_together(x.shape, weight.shape, groups, out_size, mode, pairs, x.itemsize)
    if together > 1:  # small maps: several samples in one product, a product large enough for BLAS
        for n in range(0, batch, together):
            batch_sample(x[n : n + together], weight, groups, stride, dilation, pairs, result[n : n + together], finish)
        return result
    sample_conv = depthwise_sample if depthwise else grouped_sample
    for n in range(batch):
        if mode != "zeros" and any(a or b for a, b in pairs):
            padded = pad(x[n : n + 1], pairs, mode)[0]
            sample_conv(padded, weight, groups, stride, dilation, [(0, 0)] * rank, result[n], finish)
            del padded  # before the next sample's is made
        else:
            sample_conv(x[n], weight, groups, stride, dilation, pairs, result[n], finish)
    return result


# Winograd's F(m x m, 3 x 3) in float32 (winograd.py), as a multiple of a direct
# multiply-add's cost on this machine's BLAS: its element-wise stage's multiply-adds (many
# smaller products), each value of a transformed input tile (gathered, then B^T d B) and
# of a transformed output tile (A^T M A, then scattered), and each transformed weight.
WINOGRAD_COST = {"product": 1.5, "input": 90.0, "output": 45.0, "weight": 20.0}


def winograd_applies(shape, weight_shape, stride, pairs, dilation, groups, mode, itemsize) -> bool:
    """Winograd is for 2-D 3x3 kernels with stride 1, dilation 1, one group and zero
    padding, in float32: float64 keeps the direct form, exact to its rounding."""
    kernel = tuple(weight_shape[2:])
    if itemsize != 4 or kernel != (3, 3) or groups != 1 or mode != "zeros" or any(s != 1 for s in stride) or any(d != 1 for d in dilation):
        return False
    return min(winograd.output_size(shape[2:], pairs)) >= 1


def conv_algorithm(shape, weight_shape, stride, pairs, dilation, groups, mode, itemsize) -> int:
    """The Winograd tile (2 or 4) for this convolution, or 0 for the direct form (im2col
    and BLAS): where Winograd applies, the cheaper by WINOGRAD_COST. Both tiles stay within
    winograd.BOUND of the exact result."""
    if not winograd_applies(shape, weight_shape, stride, pairs, dilation, groups, mode, itemsize):
        return 0
    channels, out_channels = shape[1], weight_shape[0]
    best, choice = winograd.direct_multiplications(shape, out_channels, pairs), 0
    for m in (2, 4):
        points = winograd.multiplications(shape, 1, pairs, m) // channels  # tiles x (m + 2)^2
        cost = (WINOGRAD_COST["product"] * points * channels * out_channels + WINOGRAD_COST["input"] * points * channels
                + WINOGRAD_COST["output"] * points * out_channels + WINOGRAD_COST["weight"] * (m + 2) ** 2 * channels * out_channels)
        if cost < best:
            best, choice = cost, m
    return choice


def tile_cost(channels: int, weight_shape, groups: int, itemsize: int) -> int:
    """Bytes per output position of a convolution's tile: a gathered column (C x kernel
    volume)."""
    _, _, *kernel = weight_shape
    return channels * math.prod(kernel) * itemsize


def conv_workspace(shape, weight_shape, groups, stride, pairs, dilation, mode, itemsize) -> int:
    """Bytes `conv` allocates besides its result for a batch of `shape` (N, C, *spatial):
    one tile (tile_cost) and, for a padding mode other than zeros, a padded sample; or
    Winograd's (winograd.workspace), or the direct form's when the input turns out too
    large for it (winograd.moderate)."""
    direct = direct_workspace(shape, weight_shape, groups, stride, pairs, dilation, mode, itemsize)
    tile = conv_algorithm(shape, weight_shape, stride, pairs, dilation, groups, mode, itemsize)
    return max(direct, winograd.workspace(shape, weight_shape, pairs, tile, itemsize)) if tile else direct


def direct_workspace(shape, weight_shape, groups, stride, pairs, dilation, mode, itemsize) -> int:
    """conv_workspace without Winograd."""
    _, channels, *size = shape
    _, _, *kernel = weight_shape
    out_size = conv_output_size(size, kernel, stride, pairs, dilation)
    padding = 0
    if mode != "zeros" and any(a or b for a, b in pairs):
        padded = [n + a + b for n, (a, b) in zip(size, pairs)]
        padding = channels * math.prod(padded) * itemsize + pad_workspace((1, channels, *size), pairs, mode, itemsize)
    together = samples_together(shape, weight_shape, groups, out_size, mode, pairs, itemsize)
    if together > 1:
        return together * batch_cost(channels, weight_shape, groups, out_size, itemsize)
    if depthwise_channels_last(channels, weight_shape, groups, mode):
        return lastaxis.depthwise_workspace(shape, weight_shape, stride, pairs, dilation, itemsize, THREADS)
    if is_depthwise(channels, weight_shape, groups):
        if padding:  # the padded sample is convolved with no further padding
            size, pairs = [n + a + b for n, (a, b) in zip(size, pairs)], [(0, 0)] * len(size)
        per_channel = depthwise_block_cost(size, kernel, stride, pairs, dilation, out_size, itemsize)
        block = depthwise_block(groups, per_channel)
        return padding + min(THREADS, -(-groups // block)) * block * per_channel
    cost = tile_cost(channels, weight_shape, groups, itemsize)
    stores = THREADS if tile_items(tile_count(out_size, cost)) else 1  # a tile on each thread
    return padding + stores * tile_positions(out_size, cost) * cost


DEPTHWISE_BYTES = 2 * 2**20  # a block of channels of a depthwise convolution (measured best: 512 KiB was 1.5x slower)


def depthwise_block(groups: int, per_channel: int) -> int:
    """Channels in a block: as many as DEPTHWISE_BYTES holds, but no more than a share of
    the THREADS threads' (so each has a block), at least one."""
    return max(1, min(groups, DEPTHWISE_BYTES // per_channel, -(-groups // THREADS)))


def depthwise_plan(size, kernel, stride, pairs, dilation, out_size):
    """(phase sizes, the flat length a tap reads): the input padded to a multiple of the
    stride along every axis and split into its stride phases (one phase for stride 1), so
    that every output position o reads phase (t*d mod s) at o + t*d div s: in that phase's
    flattened values, each tap reads one contiguous run of the same length."""
    phase = [-(-(n + a + b) // s) for n, (a, b), s in zip(size, pairs, stride)]
    steps = [math.prod(phase[axis + 1 :]) for axis in range(len(phase))]
    length = sum((o - 1) * step for o, step in zip(out_size, steps)) + 1
    return phase, length


def depthwise_block_cost(size, kernel, stride, pairs, dilation, out_size, itemsize) -> int:
    """Bytes per channel of a depthwise block: its padded input (and its phases when
    strided), its sums over the phase's positions and one product."""
    phase, length = depthwise_plan(size, kernel, stride, pairs, dilation, out_size)
    padded = math.prod(phase) * math.prod(stride)
    copies = 2 if any(s > 1 for s in stride) else 1
    return (copies * padded + math.prod(phase) + length) * itemsize


def depthwise_sample(x, weight, groups, stride, dilation, pairs, result, finish=(None, None)) -> None:
    """One sample, each channel with its own kernels, into `result`, a block of channels
    at a time (DEPTHWISE_BYTES): the block is zero-padded once (and split into its stride
    phases), then every kernel tap is one multiply-add over a contiguous run of each
    channel's flattened values, so NumPy's loops run long; the sums of the positions past
    the output's rows are dropped when the block is written out. `finish` (bias, epilogue)
    is applied to each block written."""
    bias, epilogue = finish
    size = x.shape[1:]
    kernel = weight.shape[2:]
    multiplier = weight.shape[0] // groups
    out_size = result.shape[1:]
    phase, length = depthwise_plan(size, kernel, stride, pairs, dilation, out_size)
    steps = [math.prod(phase[axis + 1 :]) for axis in range(len(phase))]
    padded_size = [p * s for p, s in zip(phase, stride)]
    strided = any(s > 1 for s in stride)
    taps = []  # (tap, its phase, its offset in the phase's flat values)
    for tap in np.ndindex(*kernel):
        reach = [t * d for t, d in zip(tap, dilation)]
        taps.append((tap, tuple(r % s for r, s in zip(reach, stride)), sum((r // s) * step for r, s, step in zip(reach, stride, steps))))
    per_channel = depthwise_block_cost(size, kernel, stride, pairs, dilation, out_size, x.itemsize)
    block = depthwise_block(groups, per_channel)
    count = math.prod(phase)
    inside = tuple(slice(a, a + n) for (a, _), n in zip(pairs, size))
    kept = tuple(slice(0, o) for o in out_size)
    w = weight.reshape(groups, multiplier, -1)
    starts = list(range(0, groups, block))
    workers = min(THREADS, len(starts))
    stores = [np.empty(block * per_channel // x.itemsize, dtype=x.dtype) for _ in range(workers)]

    def run_blocks(worker: int) -> None:
        store = stores[worker]
        for c0 in starts[worker::workers]:
            c1 = min(c0 + block, groups)
            n = c1 - c0
            padded = store[: n * math.prod(padded_size)].reshape(n, *padded_size)
            padded[...] = 0
            padded[(slice(None), *inside)] = x[c0:c1]
            used = n * math.prod(padded_size)
            if strided:  # the phases side by side: phase p of every channel
                phases = store[used : used + n * math.prod(padded_size)].reshape(n, math.prod(stride), count)
                used += n * math.prod(padded_size)
                for index, p in enumerate(np.ndindex(*stride)):
                    np.copyto(phases[:, index].reshape(n, *phase), padded[(slice(None), *(slice(q, None, s) for q, s in zip(p, stride)))])
                flat = {p: phases[:, index] for index, p in enumerate(np.ndindex(*stride))}
            else:
                flat = {(0,) * len(stride): padded.reshape(n, count)}
            sums = store[used : used + n * count].reshape(n, count)
            products = store[used + n * count : used + n * count + n * length].reshape(n, length)  # one tap's products
            for j in range(multiplier):
                run = sums[:, :length]
                for index, (_, p, offset) in enumerate(taps):
                    factor = w[c0:c1, j, index, None]
                    if index == 0:
                        np.multiply(flat[p][:, offset : offset + length], factor, out=run)
                    else:
                        np.multiply(flat[p][:, offset : offset + length], factor, out=products)
                        run += products
                channels = slice(c0 * multiplier + j, c1 * multiplier, multiplier)
                target = result[channels]
                if bias is not None:
                    np.add(sums.reshape(n, *phase)[(slice(None), *kept)], bias[channels].reshape((-1,) + (1,) * len(out_size)), out=target)
                else:
                    np.copyto(target, sums.reshape(n, *phase)[(slice(None), *kept)])
                if epilogue is not None:
                    epilogue(target)

    parallel(run_blocks, range(workers), groups * per_channel)


def grouped_sample(x, weight, groups, stride, dilation, pairs, result, finish=(None, None)) -> None:
    """One sample into `result`: matrix products per group and per tile of output
    positions, W (out, C*K) @ columns (C*K, positions), written straight into the result.

    The columns are gathered tap by tap (one strided copy each, zeros where the tap reads
    padding) into one buffer of at most TILE_BYTES; a 1x1 kernel with stride 1 and no
    padding over a contiguous sample needs no gathering at all. `finish` (bias shaped to
    the result's axes, epilogue) is applied to each tile once written.
    """
    bias, epilogue = finish
    channels, *size = x.shape
    out_channels, per_group, *kernel = weight.shape
    volume = math.prod(kernel)
    w = weight.reshape(groups, out_channels // groups, per_group * volume)
    out_size = result.shape[1:]
    if volume == 1 and all(s == 1 for s in stride) and not any(a or b for a, b in pairs) and x.flags.c_contiguous:
        matmul(w, x.reshape(groups, per_group, -1), result.reshape(groups, out_channels // groups, -1))
        finish_tile(result, bias, epilogue)
        return
    offsets = [tuple(t * d - a for t, d, (a, _) in zip(tap, dilation, pairs)) for tap in np.ndindex(*kernel)]
    cost = tile_cost(channels, weight.shape, groups, x.itemsize)
    boxes = list(tiles(out_size, cost))
    size_of_store = tile_positions(out_size, cost) * channels * volume

    def product(box, store) -> None:
        """A tile's columns gathered tap by tap (on the threads, or in turn inside an
        item: parallel() runs inline there), its product, its finish."""
        shape = tuple(b - a for a, b in box)
        count = math.prod(shape)
        columns = store[: count * channels * volume].reshape(channels, volume, *shape)
        parallel(lambda index: gather_tap(columns[:, index], x, box, offsets[index], stride, size), range(volume), columns.nbytes)
        # a tile's positions are contiguous within each channel: a view, never a copy
        target = np.reshape(result[(slice(None), *box_slices(box))], (groups, out_channels // groups, count), copy=False)
        matmul(w, columns.reshape(groups, per_group * volume, count), target)
        finish_tile(result[(slice(None), *box_slices(box))], bias, epilogue)

    if tile_items(len(boxes)) and not _local.inside:  # each thread a tile at a time: its gathering and its product
        free: list = []  # stores not in use (borrowed)

        def item(box) -> None:
            with borrowed(free, lambda: np.empty(size_of_store, dtype=x.dtype)) as store:
                product(box, store)

        with blas_alone():
            parallel(item, boxes, None)
        return
    store = np.empty(size_of_store, dtype=x.dtype)
    for box in boxes:  # the taps gathered on the threads, the product on BLAS's
        product(box, store)


TILE_ITEMS = 4  # tiles per thread from which a layer's tiles are the threads' items (tile_items)


def tile_items(count: int) -> bool:
    """Are `count` tiles many enough to be parallel() items, each gathered and multiplied
    by one thread with BLAS on one thread (blas_alone)? From TILE_ITEMS per thread: fewer
    leave a thread idle at the end. Measured on VGG16 at batch 1 in float64 (50 tiles in
    its 224x224 layers): 0.79 of the time of gathering on the threads, then a product on
    BLAS's, tile after tile, whose gathering ran beside BLAS's spinning threads. Inside
    parallel() items (a batch run as parts) the tiles run in turn (grouped_sample)."""
    return THREADS > 1 and count >= TILE_ITEMS * THREADS


def tile_count(sizes: Sequence[int], per_position: int) -> int:
    """How many boxes `tiles` makes."""
    axis, count = tile_shape(sizes, per_position)
    return math.prod(sizes[:axis]) * -(-sizes[axis] // count)


FOLD_POSITIONS = 1024  # output positions per sample below which samples share a product


def samples_together(shape, weight_shape, groups, out_size, mode, pairs, itemsize) -> int:
    """How many samples batch_sample takes at once: 1 (one at a time) unless each has
    fewer than FOLD_POSITIONS output positions (BLAS runs a product of so few columns
    well below its rate), as many as one tile holds."""
    batch, channels = shape[:2]
    positions = math.prod(out_size)
    if batch == 1 or positions >= FOLD_POSITIONS or is_depthwise(channels, weight_shape, groups):
        return 1
    if mode != "zeros" and any(a or b for a, b in pairs):
        return 1
    return max(1, min(batch, TILE_BYTES // batch_cost(channels, weight_shape, groups, out_size, itemsize)))


def batch_cost(channels, weight_shape, groups, out_size, itemsize) -> int:
    """Bytes per sample of batch_sample: its columns and its share of the product."""
    return (tile_cost(channels, weight_shape, groups, itemsize) + weight_shape[0] * itemsize) * math.prod(out_size)


def batch_sample(x, weight, groups, stride, dilation, pairs, result, finish) -> None:
    """Samples x (S, C, *size) into result (S, out, *out size) with one product per group:
    their columns gathered side by side (C x kernel volume, S x positions), the product
    written to a buffer and moved into the result sample by sample, bias added and the
    epilogue applied there."""
    bias, epilogue = finish
    count, channels, *size = x.shape
    out_channels, per_group, *kernel = weight.shape
    volume = math.prod(kernel)
    out_size = result.shape[2:]
    positions = math.prod(out_size)
    w = weight.reshape(groups, out_channels // groups, per_group * volume)
    offsets = [tuple(t * d - a for t, d, (a, _) in zip(tap, dilation, pairs)) for tap in np.ndindex(*kernel)]
    columns = np.empty((channels, volume, count, *out_size), dtype=x.dtype)
    whole = tuple((0, o) for o in out_size)

    def gather(index):  # (S, C) read as (C, S)
        gather_tap(columns[:, index], x, whole, offsets[index], stride, size, (1, 0, *range(2, x.ndim)))

    parallel(gather, range(volume), columns.nbytes)
    products = np.empty((groups, out_channels // groups, count * positions), dtype=x.dtype)
    matmul(w, columns.reshape(groups, per_group * volume, count * positions), products)
    del columns
    moved = products.reshape(out_channels, count, *out_size)
    for n in range(count):
        target = result[n]
        if bias is not None:
            np.add(moved[:, n], bias, out=target)
        else:
            np.copyto(target, moved[:, n])
        if epilogue is not None:
            epilogue(target)


def gather_tap(gathered, x, box, offset, stride, size, order=None) -> None:
    """One kernel tap's windows of x (its spatial axes last) over the output positions of
    `box` into `gathered` (its axes before the box's as x's, or as x's in `order`): the
    input where the tap reads it, zero where it reads padding."""
    region = tap_region(box, offset, stride, size)
    if region is None:
        gathered[...] = 0
        return
    inner, source = region
    fill_outside(gathered, inner, 0)
    window = x[(Ellipsis, *source)]
    gathered[(Ellipsis, *inner)] = window if order is None else window.transpose(order)


def finish_tile(tile, bias, epilogue) -> None:
    """The bias added to a finished tile (out channels first) and the epilogue applied."""
    if bias is not None:
        tile += bias
    if epilogue is not None:
        epilogue(tile)


def conv_transpose(x, weight, bias, stride, pairs, dilation, groups, output_padding) -> np.ndarray:
    """PyTorch's conv_transposeNd: weight (in, out/groups, *kernel).

    Input position i and tap t reach position i*s + t*d of the full-length output
    (n - 1)*s + d*(k - 1) + 1; the result keeps [before, before + out) of it with
    out = full - before - after + output_padding (zeros where that runs past the end).
    W^T x is computed for a tile of input positions at a time, for every tap at once (one
    product), and each tap's part is added where it lands inside the result (col2im).
    """
    batch, channels, *size = x.shape
    _, per_group_out, *kernel = weight.shape
    rank = len(kernel)
    volume = math.prod(kernel)
    out_channels = per_group_out * groups
    per_group_in = channels // groups
    out = conv_transpose_size(size, kernel, stride, pairs, dilation, output_padding)
    result = np.zeros((batch, out_channels, *out), dtype=x.dtype)
    # (G, K * Cout/G, Cin/G), contiguous for BLAS
    w = np.ascontiguousarray(weight.reshape(groups, per_group_in, per_group_out, volume).transpose(0, 3, 2, 1))
    w = w.reshape(groups, volume * per_group_out, per_group_in)
    offsets = [tuple(t * d - a for t, d, (a, _) in zip(tap, dilation, pairs)) for tap in np.ndindex(*kernel)]
    cost = transpose_cost(channels, weight.shape, groups, x.itemsize)
    positions = tile_positions(size, cost)
    store = np.empty(positions * volume * out_channels, dtype=x.dtype)
    copies = None  # a tile of the input, when it is not contiguous
    for n in range(batch):
        target = result[n].reshape(groups, per_group_out, *out)
        for box in tiles(size, cost):
            shape = tuple(b - a for a, b in box)
            count = math.prod(shape)
            source = x[(n, slice(None), *box_slices(box))]
            try:
                inputs = np.reshape(source, (groups, per_group_in, count), copy=False)
            except ValueError:
                copies = np.empty(positions * channels, dtype=x.dtype) if copies is None else copies
                tile = copies[: count * channels].reshape(channels, *shape)
                np.copyto(tile, source)
                inputs = tile.reshape(groups, per_group_in, count)
            columns = store[: count * volume * out_channels].reshape(groups, volume * per_group_out, count)
            matmul(w, inputs, columns)
            columns = columns.reshape(groups, volume, per_group_out, *shape)
            for index, offset in enumerate(offsets):
                region = tap_region(box, offset, stride, out)
                if region is None:  # lands only in the cropped part
                    continue
                inner, landing = region
                target[(slice(None), slice(None), *landing)] += columns[(slice(None), index, slice(None), *inner)]
    if bias is not None:
        result += bias.reshape((1, -1) + (1,) * rank)
    return result


def conv_transpose_size(size, kernel, stride, pairs, dilation, output_padding) -> list[int]:
    """(n - 1)*s + d*(k - 1) + 1 - before - after + output_padding along each axis."""
    return [(n - 1) * s + d * (k - 1) + 1 - a - b + op for n, k, s, (a, b), d, op in zip(size, kernel, stride, pairs, dilation, output_padding)]


def transpose_cost(channels: int, weight_shape, groups: int, itemsize: int) -> int:
    """Bytes per input position of a transposed convolution's tile: W^T x for every tap,
    and the input column (copied when the input is not contiguous)."""
    _, per_group_out, *kernel = weight_shape
    return (math.prod(kernel) * per_group_out * groups + channels) * itemsize


def conv_transpose_workspace(shape, weight_shape, groups, itemsize) -> int:
    """Bytes `conv_transpose` allocates besides its result for a batch of `shape`: the
    weight rearranged for BLAS, and one tile (transpose_cost)."""
    _, channels, *size = shape
    cost = transpose_cost(channels, weight_shape, groups, itemsize)
    return math.prod(weight_shape) * itemsize + tile_positions(size, cost) * cost


# -- pooling -------------------------------------------------------------------------------


def pool(x, kernel, stride, pairs, dilation, ceil_extra, kind, count_include_pad=True) -> np.ndarray:
    """Max or average over windows. `pairs` is the padding; `ceil_extra` the positions ceil
    mode reads past it on the right (never counted, never the maximum). Each tap is
    combined into the result where it reads the input; padding is never built."""
    size = x.shape[2:]
    rank = len(kernel)
    out = [(n + a + b + e - (d * (k - 1) + 1)) // s + 1 for n, k, s, (a, b), d, e in zip(size, kernel, stride, pairs, dilation, ceil_extra)]
    result = np.full((*x.shape[:2], *out), -np.inf if kind == "max" else 0.0, dtype=x.dtype)
    combine = np.maximum if kind == "max" else np.add
    whole = tuple((0, o) for o in out)
    for tap in np.ndindex(*kernel):
        offset = tuple(t * d - a for t, d, (a, _) in zip(tap, dilation, pairs))
        region = tap_region(whole, offset, stride, size)
        if region is None:
            continue
        inner, source = region
        part = result[(slice(None), slice(None), *inner)]
        combine(part, x[(slice(None), slice(None), *source)], out=part)
    if kind == "max":
        return result
    # The divisor, window by window: PyTorch counts the padding (count_include_pad) but
    # never the positions past it; without count_include_pad only real inputs count. A
    # window is a box, so its count is the product of the counts along each axis.
    divisor = np.ones((1, 1) + (1,) * rank, dtype=x.dtype)
    for axis, (n, k, s, (a, b), d, o) in enumerate(zip(size, kernel, stride, pairs, dilation, out)):
        low, high = (-a, n + b) if count_include_pad else (0, n)
        positions = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - a
        counts = ((positions >= low) & (positions < high)).sum(axis=1).astype(x.dtype)
        shape = [1] * (rank + 2)
        shape[2 + axis] = o
        divisor = divisor * counts.reshape(shape)
    result /= divisor
    return result


def pool_workspace(kernel, out, kind, itemsize) -> int:
    """Bytes `pool` allocates besides its result (spatial size `out`): for an average, the
    divisor of every output position (two while it is multiplied up) and the position
    tables of each axis."""
    if kind == "max":
        return 0
    tables = sum(o * k for o, k in zip(out, kernel)) * 8 * 3
    return 2 * math.prod(out) * itemsize + tables


def adaptive_pool(x, sizes, kind) -> np.ndarray:
    """Bin i spans floor(i*n/m) to ceil((i+1)*n/m) along each spatial axis (PyTorch)."""
    for axis, m in enumerate(sizes, start=2):
        n = x.shape[axis]
        if n % m == 0:  # equal bins: a strided window view
            step = n // m
            view = sliding_window_view(x, step, axis=axis)[(slice(None),) * axis + (slice(None, None, step),)]
            x = view.max(axis=-1) if kind == "max" else view.mean(axis=-1)
            continue
        shape = list(x.shape)
        shape[axis] = m
        result = np.empty(shape, dtype=x.dtype)
        before = (slice(None),) * axis
        for i in range(m):
            start, stop = (i * n) // m, -(-(i + 1) * n // m)
            chunk, target = x[(*before, slice(start, stop))], result[(*before, slice(i, i + 1))]
            if kind == "max":
                np.max(chunk, axis=axis, keepdims=True, out=target)
            else:
                np.mean(chunk, axis=axis, keepdims=True, out=target)
        x = result
    return x


def adaptive_pool_workspace(shape, sizes, itemsize) -> int:
    """Bytes `adaptive_pool` allocates besides its result: the array after each axis but
    the last, while the next is computed."""
    current = list(shape)
    peak = arrays = 0
    for axis, m in enumerate(sizes, start=2):
        current[axis] = m
        size = math.prod(current) * itemsize
        peak = max(peak, arrays + size)
        arrays = size
    return max(peak - arrays, 0)


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


def upsample_workspace(shape, sizes, mode, itemsize) -> int:
    """Bytes `upsample` allocates besides its result for a batch of `shape` (N, C, *spatial):
    per axis, the array resized along the axes before it (none for the first), and one
    array (nearest) or two (linear, cubic) resized along this one too; index and weight
    tables of the axis's size."""
    arrays = 1 if mode.startswith("nearest") else 2
    current = list(shape)
    previous = peak = 0
    for axis, m in enumerate(sizes, start=2):
        if mode.startswith("nearest") and current[axis] == m:
            continue  # returned as it is
        current[axis] = m
        size = math.prod(current) * itemsize
        peak = max(peak, previous + arrays * size + 16 * 8 * m)
        previous = size
    return max(peak - previous, 0)


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
    # x[low] * (1 - w) + x[high] * w, with two arrays of the result's size at most
    result = np.take(x, low, axis=axis)
    result *= 1 - weight
    upper = np.take(x, high, axis=axis)
    upper *= weight
    result += upper
    return result


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
    result = None
    for offset, c in zip((-1, 0, 1, 2), coefficients):
        index = np.clip(base + offset, 0, n - 1)
        term = np.take(x, index, axis=axis)
        term *= c.astype(x.dtype).reshape(shape)
        if result is None:
            result = term
        else:
            result += term
        del term  # the next is taken beside the result only: two arrays at most
    return result


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise (NumPy has none; math.erf is exact to double),
    ERF_CHUNK values at a time so that only those become Python floats."""
    result = np.empty(x.shape, dtype=x.dtype)
    flat = result.reshape(-1)
    for start in range(0, x.size, ERF_CHUNK):
        chunk = x.flat[start : start + ERF_CHUNK].tolist()
        flat[start : start + len(chunk)] = [math.erf(value) for value in chunk]
    return result
