"""Every registered layer type against PyTorch itself (property tests, random attributes).

For each case both sides either succeed, agreeing on the output shape, every weight's
name and shape (CONTRACT.md §5: PyTorch state_dict names), the running statistics and
the MACs (torch.utils.flop_counter counts 2 x MACs of conv, transposed conv and linear,
bias excluded), or both reject the configuration.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from cnncalc.errors import CnnError
from oracle import all_types, family_of, sample
from helpers import summarise

TORCH_REJECTS = (RuntimeError, ValueError, IndexError)


def test_every_registered_type_has_an_oracle():
    missing = [cls.type_name for cls in all_types() if family_of(cls) is None]
    assert not missing, f"layer types without a PyTorch oracle in tests/oracle.py: {missing}"


def torch_names(module) -> dict:
    """Parameter names as cnncalc writes them: a wrapper's 'conv.' prefix dropped."""
    return {name.removeprefix("conv."): tuple(p.shape) for name, p in module.named_parameters()}


@pytest.mark.parametrize("cls", all_types(), ids=lambda c: c.type_name)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_layer_agrees_with_pytorch(cls, data):
    shape, layers, build = family_of(cls)(data.draw, cls)
    try:
        summary = summarise({"input": shape, "layers": layers}, batch=2)
        ours = None
    except CnnError as exc:
        summary, ours = None, exc
    try:
        module = build([1, *shape]).eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            output = module(sample(build, 2, *shape))  # batch 2: batch statistics need two values
        theirs = None if output.numel() else ValueError(f"empty output {tuple(output.shape)}")
    except TORCH_REJECTS as exc:
        theirs = exc
    assert (ours is None) == (theirs is None), f"cnncalc: {ours!r}\nPyTorch: {theirs!r}\ncase: {shape} {layers}"
    if ours is not None:
        assert ours.location is not None and ours.location.line >= 1
        return
    last = summary.layers[-1]
    assert last.output_shape == tuple(output.shape[1:]), layers
    weights = {name: shape for row in summary.layers for name, shape in row.weights}
    assert weights == torch_names(module)
    # Running statistics: BatchNorm's, and the statistics Keras's Normalization keeps (mean,
    # variance, count); BatchNorm's num_batches_tracked is neither.
    buffers = sum(b.numel() for name, b in module.named_buffers() if name.split(".")[-1] != "num_batches_tracked")
    assert summary.totals.running_stats == buffers
    assert summary.totals.params == sum(p.numel() for p in module.parameters())
    assert summary.totals.macs == counter.get_total_flops() // 2
