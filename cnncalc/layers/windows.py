"""Window arithmetic: the one formula behind convolution, pooling and the receptive field.

Notation, used only in this module: a window of k taps spaced d apart (dilation) spans
ke = d*(k - 1) + 1 positions, the effective kernel. Slid with stride s over n positions
padded with `before` zeros on one side and `after` on the other, it fits

    out = floor((n + before + after - ke) / s) + 1                 (PyTorch conv.py)

times. Pooling's ceil mode rounds the division up instead, then drops a last window that
would start in the right padding: if (out - 1)*s >= n + before, out -= 1 (ATen Pool.h).

TensorFlow's 'same' picks the padding: out = ceil(n / s), total padding
max((out - 1)*s + ke - n, 0), floor(total / 2) before and the rest after.

A transposed convolution inverts the shape rule (`TransposedWindow`): out = (n - 1)*s -
before - after + ke + output_padding (PyTorch), or Keras's own rule for 'valid' and 'same'
(see `keras_transposed_size`).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Callable, Sequence

from ..errors import WarningKind

# What one position along each spatial axis is called in warnings (singular, plural).
AXIS_NOUNS = {"H": ("row", "rows"), "W": ("column", "columns"), "D": ("plane", "planes"), "L": ("position", "positions")}


def effective_kernel(k: int, d: int = 1) -> int:
    """Positions a k-tap window with dilation d spans: d*(k - 1) + 1."""
    return d * (k - 1) + 1


def same_padding(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow 'same' padding (before, after) so that out = ceil(n / s)."""
    out = -(-n // s)
    total = max((out - 1) * s + effective_kernel(k, d) - n, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Window:
    """A sliding window along one dimension: kernel k, stride s, dilation d, padding."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    before: int = 0
    after: int = 0
    ceil_mode: bool = False

    @property
    def extent(self) -> int:
        return effective_kernel(self.kernel, self.dilation)

    def padded(self, n: int) -> int:
        return n + self.before + self.after

    def output_size(self, n: int) -> int:
        """Number of window positions over n inputs; below 1 means the window does not fit."""
        k, s = self.extent, self.stride
        span = self.padded(n) - k
        if not self.ceil_mode:
            return span // s + 1
        out = -(-span // s) + 1  # ceil, also for a window wider than the input (ATen div_rtn)
        if (out - 1) * s >= n + self.before:
            out -= 1
        return out

    def working(self, n: int, dim: str) -> str:
        """The output size over n inputs with this window's numbers substituted."""
        rounding = "ceil" if self.ceil_mode else "floor"
        span = self.padded(n) - self.extent
        return (
            f"{dim}: {rounding}(({n} + {self.before} + {self.after} - {self.dilation}*({self.kernel} - 1) - 1)"
            f" / {self.stride}) + 1 = {rounding}({span} / {self.stride}) + 1 = {self.output_size(n)}"
        )

    def taps(self) -> "Taps":
        """Output o reads o*s - before + j*d for j = 0 .. k-1."""
        first = -self.before
        return Taps(self.stride, 1, lambda residue: range(first, first + self.extent, self.dilation))

    def unused_inputs(self, n: int) -> int:
        """Real input positions at the end that no window reaches (floor mode leftovers)."""
        out = self.output_size(n)
        if out < 1:
            return 0
        last_covered = (out - 1) * self.stride + self.extent - 1  # in padded coordinates
        last_real = self.before + n - 1
        return max(0, min(n, last_real - last_covered))

    def reads(self, x: int, out: int) -> bool:
        """Does some tap of some window read padded position x? Window o's tap j reads
        o*s + j*d, so j*d = x (mod s) with 0 <= j < k and 0 <= (x - j*d) / s < out: the
        taps solving the congruence are j0, j0 + s/g, ... (g = gcd(d, s))."""
        k, s, d = self.kernel, self.stride, self.dilation
        g = gcd(d, s)
        if x % g:
            return False
        period = s // g
        j0 = (x // g) * pow(d // g, -1, period) % period if period > 1 else 0
        low = max(0, -(-(x - (out - 1) * s) // d))  # (x - j*d) / s < out
        high = min(k - 1, x // d)  # x - j*d >= 0
        j = low + (j0 - low) % period  # the first solution from low on
        return j <= high

    def unread(self, n: int) -> Unread:
        """Exactly which of the n real input positions no tap of any window reads.

        Tap j of window o reads padded position o*s + j*d. Between the first window's last
        tap and the last window's first (padded positions ke - 1 .. (out - 1)*s) a position
        x is read exactly when x mod s is among the residues j*d mod s: the others are
        skipped by the stride, all along. Outside that middle part, positions whose
        residue is read may still lie before the first window or past the last: those are
        the ones no window reaches (the floor division's leftovers). They lie within
        (s/g)*d of either end of the windows' reach (the smallest tap solving the
        congruence is below s/g), so only those positions are examined; when the windows
        are too few to have a middle part, every position is, up to MAX_EXAMINED.
        """
        out = self.output_size(n)
        k, s, d, lo = self.kernel, self.stride, self.dilation, self.before
        if out < 1:
            return Unread(n, s, s, 0, (), ())
        if d == 1 and k >= s:  # windows touch or overlap: only the end can be left over
            left = self.unused_inputs(n)
            return Unread(n, s, s, 0, (), tuple(range(n - left, n)))
        residues = {(j * d) % s for j in range(min(k, s))}
        skipped = n - sum(count_congruent(lo, lo + n, r, s) for r in residues)
        middle = (self.extent - 1, (out - 1) * s)  # padded positions decided by their residue alone
        reach = (out - 1) * s + self.extent - 1  # the last padded position a window spans
        near = (s // gcd(d, s)) * d

        def unreached(positions) -> tuple[int, ...]:
            return tuple(x - lo for x in positions if x % s in residues and not self.reads(x, out))

        if middle[0] > middle[1]:  # no middle part: few windows, a wide kernel
            if n > MAX_EXAMINED:
                return Unread(n, s, len(residues), skipped, (), ())
            return Unread(n, s, len(residues), skipped, (), unreached(range(lo, lo + n)))
        first = unreached(range(lo, min(lo + n, middle[0], near)))
        last = unreached(range(max(lo, middle[1] + 1, reach - near), lo + n))
        return Unread(n, s, len(residues), skipped, first, last)


MAX_EXAMINED = 100_000  # positions examined one by one for leftovers, when windows have no middle part


def count_congruent(start: int, stop: int, residue: int, modulus: int) -> int:
    """How many x in [start, stop) have x = residue (mod modulus)."""
    return (stop - 1 - residue) // modulus - (start - 1 - residue) // modulus


@dataclass(frozen=True)
class Unread:
    """The real input positions (0 .. n-1) that no window of a layer reads, along one axis."""

    n: int
    stride: int
    read_per_stride: int  # of every `stride` consecutive positions, how many a tap can fall on
    skipped: int  # positions whose place in the stride's period no tap falls on, anywhere
    first: tuple[int, ...]  # positions before the first window's reach (possible with dilation)
    last: tuple[int, ...]  # positions past the last window's reach (the division's leftovers)

    @property
    def skipped_per_stride(self) -> int:
        return self.stride - self.read_per_stride

    @property
    def total(self) -> int:
        return self.skipped + len(self.first) + len(self.last)

    @property
    def only_a_tail(self) -> bool:
        """Nothing skipped, nothing at the start, and the leftovers are the last positions."""
        return not self.skipped and not self.first and self.last == tuple(range(self.n - len(self.last), self.n))


@dataclass(frozen=True)
class TransposedWindow:
    """A transposed convolution along one dimension, in PyTorch's terms: scattering n inputs
    with stride s gives a full result of (n - 1)*s + ke positions, and the output is its
    positions [before, full - after + output_padding), so

        out = (n - 1)*s - before - after + d*(k - 1) + 1 + output_padding    (PyTorch)

    Keras's 'same' and 'valid' are the crops that give Keras's sizes (see
    `keras_transposed_size`)."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    before: int = 0
    after: int = 0
    output_padding: int = 0

    @property
    def extent(self) -> int:
        return effective_kernel(self.kernel, self.dilation)

    def full_size(self, n: int) -> int:
        return (n - 1) * self.stride + self.extent

    def output_size(self, n: int) -> int:
        """Below 1 means the padding removes everything."""
        return self.full_size(n) - self.before - self.after + self.output_padding

    def working(self, n: int, dim: str) -> str:
        return (
            f"{dim}: ({n} - 1)*{self.stride} - {self.before} - {self.after} + {self.dilation}*({self.kernel} - 1)"
            f" + 1 + {self.output_padding} = {self.output_size(n)}"
        )

    def taps(self) -> "Taps":
        return transposed_taps(self.kernel, self.stride, self.dilation, self.before)


def keras_transposed_size(n: int, k: int, s: int, d: int, padding: str, output_padding: int | None) -> int:
    """Keras Conv*DTranspose (keras/src/backend/common/backend_utils.py).

    Without output_padding: 'valid' gives (n - 1)*s + max(ke, s), 'same' gives n*s.
    With it: (n - 1)*s + ke - 2*pad + output_padding, pad = 0 ('valid') or ke // 2 ('same').
    """
    ke = effective_kernel(k, d)
    if output_padding is None:
        return (n - 1) * s + max(ke, s) if padding == "valid" else n * s
    pad = ke // 2 if padding == "same" else 0
    return (n - 1) * s + ke - 2 * pad + output_padding


@dataclass(frozen=True)
class Taps:
    """Which input positions feed output position o, along one dimension.

    taps(o) = reads(o % period) shifted by (o // period) * step: a sliding window has
    period 1 and step s; an upsampling layer by 2 has period 2 and step 1 (two outputs per
    input). `reads` gives a range (cheap even for a huge kernel) or a tuple; an empty one
    means that output position reads no input at all (a transposed convolution whose
    kernel is smaller than its stride).
    """

    step: int
    period: int
    reads: Callable[[int], Sequence[int]]

    def at(self, o: int) -> Sequence[int]:
        shift = (o // self.period) * self.step
        positions = self.reads(o % self.period)
        if isinstance(positions, range):
            return range(positions.start + shift, positions.stop + shift, positions.step)
        return tuple(t + shift for t in positions)


def constant_taps(offset: int, period: int = 1, step: int = 1) -> Taps:
    """Output o reads the single input (o // period) * step + offset (pad, crop, nearest upsampling)."""
    return Taps(step, period, lambda residue: (offset,))


def transposed_taps(k: int, s: int, d: int, before: int) -> Taps:
    """Output o reads input i where i*s - before + j*d = o for a tap j in 0 .. k-1 (exactly).

    For o = residue (mod s) the taps j solve j*d = residue + before (mod s): with
    g = gcd(d, s) there are none unless g divides it, else j = j0, j0 + s/g, ... below k,
    and i = (residue + before - j*d) / s runs down in steps of d/g.
    """
    g = gcd(d, s)
    period_j, step_i = s // g, d // g

    def reads(residue: int) -> range:
        target = (residue + before) % s
        if target % g:
            return range(0)
        j0 = (target // g) * pow(step_i, -1, period_j) % period_j if period_j > 1 else 0
        if j0 >= k:
            return range(0)
        count = (k - 1 - j0) // period_j + 1
        top = (residue + before - j0 * d) // s
        return range(top - (count - 1) * step_i, top + 1, step_i)

    return Taps(1, s, reads)


def listed(positions: Sequence[int]) -> str:
    """'4', '4 and 9', '1, 4 and 9', or the first three and a count."""
    shown = [str(p) for p in positions]
    if len(shown) > 4:
        return f"{', '.join(shown[:3])}, ... ({len(shown)} in all)"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def unread_phrases(unread: Unread, window: Window, axis: str | None, whose: str = "its") -> list[tuple[WarningKind, str]]:
    """What `unread` says, in words about the axis (rows of H, columns of W, positions of
    L, planes of D; positions of an unnamed axis), one phrase per kind:

    - STRIDE_SKIP: "stride 2 skips 1 of every 2 input rows (kernel 1), so 28 of its 56
      rows are never read" (a kernel that reaches fewer positions than the stride);
    - UNREACHED: "the last 1 of its 57 input rows is never reached by a window" when the
      leftovers are the last positions, else the positions themselves, counted from 0
      (with dilation, holes between a window's taps that no other window fills).
    """
    one, many = AXIS_NOUNS.get(axis or "", ("position", "positions"))
    phrases = []
    if unread.skipped:
        dilation = f", dilation {window.dilation}" if window.dilation > 1 else ""
        phrases.append((WarningKind.STRIDE_SKIP,
                        f"stride {unread.stride} skips {unread.skipped_per_stride} of every {unread.stride} input {many} "
                        f"(kernel {window.kernel}{dilation}), so {unread.skipped} of {whose} {unread.n} {many} "
                        f"{'is' if unread.skipped == 1 else 'are'} never read"))
    left = unread.first + unread.last
    if left and unread.only_a_tail:
        phrases.append((WarningKind.UNREACHED,
                        f"the last {len(left)} of {whose} {unread.n} input {many} {'is' if len(left) == 1 else 'are'} "
                        "never reached by a window"))
    elif left:
        phrases.append((WarningKind.UNREACHED,
                        f"input {one if len(left) == 1 else many} {listed(left)} (counting from 0) of {whose} {unread.n} "
                        f"{'is' if len(left) == 1 else 'are'} never read (no window's taps fall on {'it' if len(left) == 1 else 'them'})"))
    return phrases
