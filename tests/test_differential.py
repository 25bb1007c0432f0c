"""Differential testing against PyTorch on random multi-layer networks with branches
(tests/differential.py): valid ones agree on every layer's shape, the weights' names and
shapes, the parameter count and the float64 output values; broken ones are rejected by
both. scripts/differential.py runs the same comparison on as many seeds as you like."""

from __future__ import annotations

import pytest

import cnncalc
from differential import case, compare

SEEDS = range(200)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_network_agrees_with_pytorch(seed):
    assert compare(seed, broken=False) in ("agree", "both reject")


@pytest.mark.parametrize("seed", SEEDS)
def test_broken_network_is_rejected_by_both_or_agrees(seed):
    assert compare(10_000 + seed, broken=True) in ("agree", "both reject")


def accepted(seed: int, broken: bool) -> bool:
    try:
        cnncalc.summary(cnncalc.loads(case(seed, broken).text, format="yaml", path="case.yaml"), batch=2)
    except cnncalc.CnnError:
        return False
    return True


def test_the_generator_makes_both_kinds():
    """The suite means something only if valid networks run and broken ones get refused.
    The tests above prove PyTorch takes cnncalc's side on every seed, so cnncalc's verdict
    alone tells the outcome ('agree' or 'both reject') without running PyTorch again."""
    verdicts = [accepted(seed, broken=False) for seed in range(40)] + [accepted(10_000 + s, broken=True) for s in range(40)]
    assert verdicts.count(True) >= 30  # 'agree': compared layer by layer, value by value
    assert verdicts.count(False) >= 10  # 'both reject'
