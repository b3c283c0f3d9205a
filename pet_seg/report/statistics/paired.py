"""Is a difference between two configurations larger than noise? Paired tests and seed intervals.

Every run of a sweep scores the same test images, so two configurations are compared image by
image: the per-image differences in Dice cancel out how hard each image is, which a comparison
of two means ignores. Two numbers answer "is it real": a bootstrap confidence interval of the
mean difference (scipy's BCa bootstrap over images) and the Wilcoxon signed-rank p-value (scipy),
which needs no normality of Dice differences, often skewed by a few failed images. Across seeds
the spread is training noise: mean ± std and a Student-t interval of the mean.

The statistics come from scipy rather than code of our own; this module only handles the cases
scipy refuses (no variation at all, a single image).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the per-image differences ``a - b`` with its bootstrap CI and Wilcoxon p-value."""

    mean: float
    low: float
    high: float
    p_value: float
    n: int

    @property
    def within_noise(self) -> bool:
        """The confidence interval contains 0: the data cannot tell the two apart."""
        return self.low <= 0.0 <= self.high


@dataclass(frozen=True)
class SeedSummary:
    """One configuration's score over seeds: mean ± sample std and a t-interval of the mean."""

    mean: float
    std: float
    low: float
    high: float
    n: int


def _bootstrap_ci(
    differences: np.ndarray, confidence: float, n_boot: int, seed: int
) -> tuple[float, float]:
    """BCa interval of the mean; percentile where BCa degenerates (e.g. nearly all ties)."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            result = stats.bootstrap(
                (differences,),
                np.mean,
                n_resamples=n_boot,
                confidence_level=confidence,
                method=method,
                batch=max(1, min(n_boot, 20_000_000 // max(1, len(differences)))),
                rng=np.random.default_rng(seed),
            )
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return float(low), float(high)
    raise RuntimeError("bootstrap gave no finite interval")  # pragma: no cover


def _wilcoxon(differences: np.ndarray) -> float:
    """Two-sided signed-rank p-value; 1.0 when every difference is zero (nothing to rank)."""
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences).pvalue)


def paired_difference(
    a: np.ndarray,
    b: np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> PairedDifference:
    """Compare per-image scores ``a`` and ``b`` of the same images (same order).

    ``mean`` is the mean of ``a - b``; ``low``/``high`` its bootstrap confidence interval
    (``n_boot`` resamples of the images, reproducible by ``seed``); ``p_value`` the Wilcoxon
    signed-rank test of ``a - b`` against 0. Differences that are all equal have no spread to
    resample: the interval is that value itself. A single image gives no interval at all
    (-inf, inf), so it is always within noise.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D arrays of one length, got {a.shape} and {b.shape}")
    if not len(a):
        raise ValueError("no images to compare")
    differences = a - b
    mean = float(differences.mean())
    if len(differences) == 1 and mean != 0:
        low, high = -math.inf, math.inf
    elif np.ptp(differences) == 0:
        low = high = mean
    else:
        low, high = _bootstrap_ci(differences, confidence, n_boot, seed)
    return PairedDifference(mean, low, high, _wilcoxon(differences), len(differences))


def seed_interval(values: np.ndarray, *, confidence: float = 0.95) -> SeedSummary:
    """Mean ± sample std (ddof=1) of one score over seeds, and its Student-t interval.

    With one seed there is no spread to measure: std is NaN and the interval (-inf, inf).
    """
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        raise ValueError("no values")
    mean = float(values.mean())
    if len(values) < 2:
        return SeedSummary(mean, math.nan, -math.inf, math.inf, len(values))
    std = float(values.std(ddof=1))
    if std == 0:
        return SeedSummary(mean, 0.0, mean, mean, len(values))
    low, high = stats.t.interval(
        confidence, df=len(values) - 1, loc=mean, scale=std / math.sqrt(len(values))
    )
    return SeedSummary(mean, std, float(low), float(high), len(values))
