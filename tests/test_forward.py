"""The NumPy forward pass of every layer type against PyTorch's own (property tests).

The random cases of tests/oracle.py give a layer and the same layer in torch.nn; the torch
module's own weights are handed to cnncalc, and the outputs must agree in float64 to
1e-9 (float32 is covered by whole networks in test_run.py), from an input in channels-first
memory and from the same values in channels-last memory.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.errors import CnnError
from cnncalc.forward.runner import execute
from oracle import all_types, family_of, sample

import yaml


def our_params(module, rows):
    """torch's tensors keyed as cnncalc's layers name them (a wrapper's 'conv.' dropped)."""
    tensors = {name.removeprefix("conv."): t.detach().double().numpy() for name, t in module.state_dict().items()}
    return {row.name: {leaf: tensors[leaf] for leaf, _ in (*row.weights, *row.buffers)} for row in rows}


def randomise_statistics(module):
    for name, buffer in module.named_buffers():
        if name.endswith("running_mean"):
            buffer.copy_(torch.randn_like(buffer) * 0.3)
        elif name.endswith("running_var"):
            buffer.copy_(torch.rand_like(buffer) + 0.5)
    for name, parameter in module.named_parameters():
        if name.endswith("weight") and parameter.ndim == 1:
            parameter.data.copy_(torch.rand_like(parameter) + 0.5)


@pytest.mark.parametrize("cls", all_types(), ids=lambda c: c.type_name)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_forward_agrees_with_pytorch(cls, data):
    shape, layers, build = family_of(cls)(data.draw, cls)
    text = yaml.safe_dump({"input": shape, "layers": layers})
    try:
        net = cnncalc.loads(text, format="yaml", path="case.yaml")
        summary = cnncalc.summary(net, 2)
    except CnnError:
        event("rejected")
        return  # rejected configurations are compared in test_torch_oracle.py
    module = build([2, *shape]).double().eval()
    with torch.no_grad():
        randomise_statistics(module)
        x = sample(build, 2, *shape, dtype=torch.float64)
        expected = module(x).numpy()
    event("compared")
    params = our_params(module, summary.layers)
    got, _, _ = execute(net, params, x.numpy())
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, err_msg=str(layers))
    if x.ndim >= 3:  # the same values over channels-last memory, as depthwise and 1x1 convolutions hand them on
        last = np.moveaxis(np.ascontiguousarray(np.moveaxis(x.numpy(), 1, -1)), -1, 1)
        got, _, _ = execute(net, params, last)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, err_msg=f"channels-last memory: {layers}")
