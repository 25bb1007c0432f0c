"""The window arithmetic and tap sets against their definitions, by brute force."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cnncalc.layers.windows import TransposedWindow, Window, transposed_taps


@given(k=st.integers(1, 6), s=st.integers(1, 5), d=st.integers(1, 4), before=st.integers(0, 6), o=st.integers(0, 40))
def test_transposed_taps_are_exactly_the_inputs_that_reach_an_output(k, s, d, before, o):
    """Input i reaches output o when i*s - before + j*d = o for some tap j (PyTorch's scatter)."""
    expected = sorted(i for i in range(-20, 60) for j in range(k) if i * s - before + j * d == o)
    assert sorted(transposed_taps(k, s, d, before).at(o)) == expected


@given(k=st.integers(1, 6), s=st.integers(1, 5), d=st.integers(1, 4), before=st.integers(0, 6), o=st.integers(0, 40))
def test_window_taps_are_the_kernel_positions(k, s, d, before, o):
    taps = Window(k, s, d, before, 0).taps()
    assert list(taps.at(o)) == [o * s - before + j * d for j in range(k)]


@given(n=st.integers(1, 30), k=st.integers(1, 8), s=st.integers(1, 5), d=st.integers(1, 3), lo=st.integers(0, 4), hi=st.integers(0, 4))
def test_output_size_counts_the_windows(n, k, s, d, lo, hi):
    """Floor mode: the number of window starts with the whole window inside the padded input.
    (Ceil mode is checked against PyTorch's pooling in test_torch_oracle.py.)"""
    extent = d * (k - 1) + 1
    expected = len([p for p in range(0, n + lo + hi, s) if p + extent <= n + lo + hi])
    assert max(Window(k, s, d, lo, hi).output_size(n), 0) == expected


@given(n=st.integers(1, 30), k=st.integers(1, 8), s=st.integers(1, 5), lo=st.integers(0, 4), hi=st.integers(0, 4))
def test_unused_inputs_are_the_real_rows_after_the_last_window(n, k, s, lo, hi):
    window = Window(k, s, 1, lo, hi)
    out = window.output_size(n)
    if out < 1:
        return
    covered = {p + j for p in range(0, out * s, s) for j in range(k)}
    # Leftovers of the division: real rows (padded positions lo .. lo+n-1) after the last
    # covered position. Rows skipped between windows (stride > kernel) are not leftovers.
    assert window.unused_inputs(n) == len([row for row in range(lo, lo + n) if row > max(covered)])


@given(n=st.integers(1, 12), k=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 3),
       before=st.integers(0, 5), after=st.integers(0, 5), extra=st.integers(0, 3))
def test_transposed_output_is_the_kept_part_of_the_scatter(n, k, s, d, before, after, extra):
    """Scatter every input i over i*s + j*d (the full result), drop `before` positions at the
    start and `after` at the end, add `output_padding` at the end: what is left is the output."""
    full = max(i * s + j * d for i in range(n) for j in range(k)) + 1
    window = TransposedWindow(k, s, d, before, after, extra)
    assert window.full_size(n) == full
    assert window.output_size(n) == full - before - after + extra
