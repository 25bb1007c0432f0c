"""The cross-entropy of a network's output for a target class (`run --target`), with its
working, in float64.

PyTorch's `F.cross_entropy(z, t)` for scores z: loss = logsumexp(z) - z[t] = -ln softmax(z)[t].
When the network already ends in a softmax, its output is p itself and loss = -ln p[t]
(PyTorch's `F.nll_loss(log(p), t)`). The loss of a batch is the mean over its samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CnnError
from ..i18n import tr

TOLERANCE = 1e-9  # a row of non-negative values summing to 1 within this is a distribution


@dataclass(frozen=True)
class SampleLoss:
    scores: tuple[float, ...] | None  # None when the output was already probabilities
    probabilities: tuple[float, ...]
    loss: float


@dataclass(frozen=True)
class Loss:
    target: int
    samples: tuple[SampleLoss, ...]

    @property
    def mean(self) -> float:
        return float(np.mean([sample.loss for sample in self.samples]))


def is_distribution(row: np.ndarray) -> bool:
    return bool(np.all(row >= 0) and abs(row.sum() - 1.0) <= TOLERANCE * len(row))


def cross_entropy(output: np.ndarray, target: int) -> Loss:
    """The loss per sample of a (batch, classes) output, in float64."""
    values = np.asarray(output, dtype=np.float64)
    if values.ndim != 2:
        raise CnnError(tr("loss.not_vector", shape=tuple(values.shape[1:])))
    classes = values.shape[1]
    if not 0 <= target < classes:
        raise CnnError(tr("loss.bad_target", target=target, classes=classes, last=classes - 1))
    samples = []
    for row in values:
        if is_distribution(row):
            samples.append(SampleLoss(None, tuple(row.tolist()), float(-np.log(row[target]))))
            continue
        top = row.max()
        shifted = np.exp(row - top)
        log_sum = top + np.log(shifted.sum())
        samples.append(SampleLoss(tuple(row.tolist()), tuple((shifted / shifted.sum()).tolist()), float(log_sum - row[target])))
    return Loss(target, tuple(samples))
