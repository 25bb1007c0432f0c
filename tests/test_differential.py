"""Differential testing against PyTorch on random multi-layer networks with branches
(tests/differential.py): valid ones agree on every layer's shape, the weights' names and
shapes, the parameter count and the float64 output values; broken ones are rejected by
both. scripts/differential.py runs the same comparison on as many seeds as you like."""

from __future__ import annotations

import pytest

from differential import compare

SEEDS = range(200)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_network_agrees_with_pytorch(seed):
    assert compare(seed, broken=False) in ("agree", "both reject")


@pytest.mark.parametrize("seed", SEEDS)
def test_broken_network_is_rejected_by_both_or_agrees(seed):
    assert compare(10_000 + seed, broken=True) in ("agree", "both reject")


def test_the_generator_makes_both_kinds():
    """The suite means something only if valid networks run and broken ones get refused."""
    outcomes = [compare(seed, broken=False) for seed in range(40)] + [compare(10_000 + s, broken=True) for s in range(40)]
    assert outcomes.count("agree") >= 30
    assert outcomes.count("both reject") >= 10
