"""TEMP stand-in (issue 16) for the paired statistics of issue 11; the lead replaces this file.

Same API as the real module: ``paired_difference(a, b)`` → mean of a - b, a percentile
bootstrap confidence interval and a two-sided Wilcoxon signed-rank p-value (normal
approximation with tie correction; zero differences dropped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    mean: float
    low: float
    high: float
    p_value: float
    n: int

    @property
    def within_noise(self) -> bool:
        return self.low <= 0.0 <= self.high


def _wilcoxon_p(diff: np.ndarray) -> float:
    diff = diff[diff != 0]
    n = len(diff)
    if n == 0:
        return 1.0
    magnitude = np.abs(diff)
    order = magnitude.argsort()
    ranks = np.empty(n)
    ranks[order] = np.arange(1, n + 1)
    for value in np.unique(magnitude):  # average ranks over ties
        tied = magnitude == value
        ranks[tied] = ranks[tied].mean()
    w_plus = ranks[diff > 0].sum()
    _, counts = np.unique(magnitude, return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (counts**3 - counts).sum() / 48
    if var <= 0:
        return 1.0
    z = (w_plus - n * (n + 1) / 4) / math.sqrt(var)
    return math.erfc(abs(z) / math.sqrt(2))


def paired_difference(
    a: np.ndarray,
    b: np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> PairedDifference:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return PairedDifference(
        float(diff.mean()), float(low), float(high), _wilcoxon_p(diff), len(diff)
    )
