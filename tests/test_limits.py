"""Bounds on work: tiny inputs that would loop, recurse or iterate for hours are refused or
answered at once (the refusal messages themselves are cases in tests/bad/)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.analysis.field import MAX_FIELD_PERIOD, Periodic, combine
from cnncalc.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_combining_fields_of_coprime_periods_stops_at_the_bound():
    """Two branches whose fields repeat every 99,991 and 99,989 positions would need the
    least common multiple (about 10^10) of positions to combine: refused instead."""
    a = Periodic(1, 99_991, tuple(range(99_991)))
    b = Periodic(1, 99_989, tuple(range(99_989)))
    start = time.perf_counter()
    assert combine([a, b], min) is None
    assert time.perf_counter() - start < 1
    assert combine([a, a], max) == a  # the same period stays exact
    assert 99_991 <= MAX_FIELD_PERIOD


def test_a_huge_kernel_is_solved_from_the_size_rule_not_by_trying_every_padding():
    """Each setting listed for a kernel of 10^9 gives 32 from 64 by PyTorch's own shape rule
    (on the meta device: shapes without allocating)."""
    torch = pytest.importorskip("torch")
    import json

    start = time.perf_counter()
    result = CliRunner().invoke(main, ["solve", "--in", "64", "--out", "32", "-k", "1000000000", "--all", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 10
    settings = [s for s in json.loads(result.stdout) if s["convention"] == "PyTorch"]
    assert {"kernel": 1_000_000_000, "stride": 2, "padding": 499_999_999, "dilation": 1} in [
        {k: s[k] for k in ("kernel", "stride", "padding", "dilation")} for s in settings
    ]
    x = torch.empty(1, 1, 64, device="meta")
    weight = torch.empty(1, 1, 1_000_000_000, device="meta")
    for s in settings:
        out = torch.nn.functional.conv1d(x, weight, stride=s["stride"], padding=s["padding"], dilation=s["dilation"])
        assert out.shape[-1] == 32, s


def test_left_out_layers_count_against_the_expansion_bound():
    """A block whose only layer is left out, repeated 10^8 times, used to loop forever."""
    text = "input: [4]\nblocks:\n  b:\n    layers:\n      - relu:\n        if: false\nlayers:\n  - b:\n    repeat: 100000000\n"
    start = time.perf_counter()
    with pytest.raises(cnncalc.CnnError) as caught:
        cnncalc.loads(text)
    assert "expanding the blocks takes more than 300,000 steps" in caught.value.message
    assert time.perf_counter() - start < 30


def test_the_layer_limit_is_reached_in_seconds():
    path = ROOT / "tests" / "bad" / "too-many-layers.yaml"
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "cnncalc", "summary", str(path)], capture_output=True, text=True)
    assert result.returncode == 2 and "more than 100,000 layers" in result.stderr
    assert time.perf_counter() - start < 30


def test_a_hand_written_name_inside_an_instance_is_refused_so_folding_stays_honest():
    """Before: --depth 0 folded a hand-written layer1.5.conv1 (260 params) into the block
    row layer1 (5,260)."""
    text = (
        "input: [4]\nblocks:\n  b:\n    layers: [{linear: 4}]\n"
        "layers:\n  - b:\n    repeat: 3\n    name: layer1\n  - linear: 5\n    name: layer1.5.conv1\n"
    )
    with pytest.raises(cnncalc.CnnError) as caught:
        cnncalc.loads(text)
    assert "lies inside the block instance or repeat 'layer1'" in caught.value.message
    fine = text.replace("name: layer1.5.conv1", "name: head")
    summary = cnncalc.summary(cnncalc.loads(fine))
    rows = {row.name: row for row in cnncalc.summary(cnncalc.loads(fine)).layers}
    assert rows["head"].params == 4 * 5 + 5 == summary.totals.params - 3 * (4 * 4 + 4)
