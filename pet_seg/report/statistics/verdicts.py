"""Is configuration B better than A? A verdict that counts seeds *and* test images as noise.

Pairing one trained model per configuration image by image and bootstrapping over the test
images measures only one noise source: which images were drawn. It ignores which seed trained
the model, so two seeds of the *same* configuration come out "real" (measured on the shipped
test set: 0.7671 vs 0.7425 test Dice between two seeds; the paired bootstrap CI excludes 0 and
the Wilcoxon p is 5e-14). Seed-to-seed variance is often the larger of the two in deep learning
benchmarks (Bouthillier et al., "Accounting for Variance in Machine Learning Benchmarks",
MLSys 2021), so a configuration-level verdict needs at least two seeds per arm.

Model, per arm c with a (seeds S_c, images N) matrix X_c of per-image test Dice whose columns
are the same images in the same order for both arms:

    X[c, s, i] = mu_c + a[c, s] (seed) + b[c, i] (image: difficulty + config x image) + e[c, s, i]

The estimate is ``mean(X_B) - mean(X_A)`` (B minus A). Its variance has three parts, estimated
by the method of moments:

* seeds, per arm: ``var(row means, ddof=1) / S_c``, which estimates
  ``sigma_a**2 / S + sigma_e**2 / (S N)``;
* images: ``var(d, ddof=1) / N`` with ``d = colmean(X_B) - colmean(X_A)``, less
  ``sum_c sigma_e_c**2 / (S_c N)`` (the seed x image residual, already counted in the seed
  parts), where ``sigma_e_c**2`` is the residual mean square of the two-way additive ANOVA of
  X_c; clipped at 0.

The interval is a Student-t interval with Welch-Satterthwaite degrees of freedom over the three
parts (df ``S_A - 1``, ``S_B - 1``, ``N - 1``). Why not a bootstrap over seeds: with 2-3 seeds an
arm has 3-10 distinct resamples, which underestimates the seed variance, so A/A comparisons
would come out "real" far more often than 5 %; the t interval with df close to ``seeds - 1`` is
calibrated when seed effects are roughly normal (see tests/test_verdicts.py for the rates).

With one seed in either arm the training noise is not measured: the result is only the paired
image-level comparison of the seed-averaged per-image scores (BCa bootstrap CI, Wilcoxon p), and
its verdict is never "real". Several comparisons of one report are Holm-adjusted
(:func:`adjust_holm`). Distributions, bootstrap and Holm come from scipy and statsmodels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pet_seg.report.statistics.paired import paired_difference

CONFIGURATION = "configuration"
IMAGE_LEVEL = "image-level"
ONE_MODEL = "one trained model each: training noise not measured"


@dataclass(frozen=True)
class ConfigurationDifference:
    """Difference B - A of mean per-image Dice, with its interval, p-value and noise estimates.

    ``kind`` is ``"configuration"`` (both arms have >= 2 seeds: seeds and images counted) or
    ``"image-level"`` (one seed in an arm: images only, so never "real"). ``p_adjusted`` is set
    by :func:`adjust_holm`; ``seed_sd`` is the SD of per-seed mean Dice pooled over both arms and
    ``image_var`` the image variance component (both None at image level).
    """

    kind: str
    mean: float
    low: float
    high: float
    p_value: float
    p_adjusted: float | None
    df: float | None
    seeds: tuple[int, int]
    images: int
    seed_sd: float | None
    image_var: float | None
    confidence: float

    @property
    def p(self) -> float:
        """The p-value the verdict uses: Holm-adjusted once set, raw otherwise."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def real(self) -> bool:
        """A configuration-level difference with p below ``1 - confidence``.

        Before adjustment this is the same as "the CI excludes 0"; after Holm the CI stays the
        unadjusted one, and the adjusted p decides.
        """
        return self.kind == CONFIGURATION and self.p < 1.0 - self.confidence

    @property
    def verdict(self) -> str:
        """``"real"``, ``"within noise"``, or why there is no configuration-level verdict."""
        if self.kind != CONFIGURATION:
            return ONE_MODEL
        return "real" if self.real else "within noise"


def _as_runs(scores: np.ndarray, name: str) -> np.ndarray:
    """Scores as a (seeds, images) float matrix; a 1-D array is one seed."""
    runs = np.asarray(scores, dtype=np.float64)
    if runs.ndim == 1:
        runs = runs[np.newaxis, :]
    if runs.ndim != 2 or runs.size == 0:
        raise ValueError(f"{name}: need a non-empty (seeds, images) matrix, got {runs.shape}")
    if not np.all(np.isfinite(runs)):
        raise ValueError(f"{name}: per-image scores contain NaN or infinity")
    return runs


def residual_mean_square(runs: np.ndarray) -> float:
    """Residual mean square of the additive two-way ANOVA seeds x images: seed x image noise."""
    seeds, images = runs.shape  # (S, N)
    residual = runs - runs.mean(axis=1, keepdims=True) - runs.mean(axis=0, keepdims=True)
    residual += runs.mean()
    return float(np.sum(residual**2) / ((seeds - 1) * (images - 1)))


def variance_components(runs_a: np.ndarray, runs_b: np.ndarray) -> np.ndarray:
    """``[v_A, v_B, v_img]``: the seed parts of each arm and the image part of var(B - A)."""
    images = runs_a.shape[1]
    seed_parts = [r.mean(axis=1).var(ddof=1) / r.shape[0] for r in (runs_a, runs_b)]
    d = runs_b.mean(axis=0) - runs_a.mean(axis=0)  # (N,) seed-averaged per-image differences
    # var(d) also holds the seed x image residual of both arms, already in the seed parts.
    counted = sum(residual_mean_square(r) / (r.shape[0] * images) for r in (runs_a, runs_b))
    image_part = max(0.0, d.var(ddof=1) / images - counted)
    return np.array([*seed_parts, image_part])


def satterthwaite_df(variances: np.ndarray, dfs: np.ndarray) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of independent variance estimates."""
    used = variances > 0  # a zero part adds no uncertainty (and may have df 0)
    return float(variances.sum() ** 2 / np.sum(variances[used] ** 2 / dfs[used]))


def pooled_seed_sd(runs_a: np.ndarray, runs_b: np.ndarray) -> float:
    """SD of per-seed mean Dice, pooled over the two arms (df ``S_A + S_B - 2``)."""
    sums = [r.mean(axis=1).var(ddof=1) * (r.shape[0] - 1) for r in (runs_a, runs_b)]
    return math.sqrt(sum(sums) / (runs_a.shape[0] + runs_b.shape[0] - 2))


def _configuration_level(
    runs_a: np.ndarray, runs_b: np.ndarray, confidence: float
) -> ConfigurationDifference:
    """Seeds and images as noise: t interval with Satterthwaite df.

    With no variance anywhere (SE 0) nothing is uncertain: a zero difference is within noise
    with p 1, any other difference is real with p 0; the interval is the point itself.
    """
    (seeds_a, images), seeds_b = runs_a.shape, runs_b.shape[0]
    mean = float(runs_b.mean() - runs_a.mean())
    variances = variance_components(runs_a, runs_b)  # (3,)
    se = math.sqrt(variances.sum())
    if se == 0.0:
        df, low, high, p_value = None, mean, mean, (1.0 if mean == 0.0 else 0.0)
    else:
        df = satterthwaite_df(variances, np.array([seeds_a - 1, seeds_b - 1, images - 1.0]))
        low, high = stats.t.interval(confidence, df, loc=mean, scale=se)
        p_value = float(2.0 * stats.t.sf(abs(mean) / se, df))
    return ConfigurationDifference(
        CONFIGURATION, mean, float(low), float(high), p_value, None, df,
        (seeds_a, seeds_b), images, pooled_seed_sd(runs_a, runs_b), float(variances[2]),
        confidence,
    )  # fmt: skip


def _image_level(
    runs_a: np.ndarray, runs_b: np.ndarray, confidence: float, n_boot: int, seed: int
) -> ConfigurationDifference:
    """Images only, on seed-averaged per-image scores: the paired test of two trained models
    (``pet_seg.report.statistics.paired``), never "real" about the configurations."""
    paired = paired_difference(
        runs_b.mean(axis=0), runs_a.mean(axis=0), confidence=confidence, n_boot=n_boot, seed=seed
    )
    seeds = (runs_a.shape[0], runs_b.shape[0])
    return ConfigurationDifference(
        IMAGE_LEVEL, paired.mean, paired.low, paired.high, paired.p_value, None, None, seeds,
        paired.n, None, None, confidence,
    )  # fmt: skip


def compare_configurations(
    a: np.ndarray,
    b: np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> ConfigurationDifference:
    """Compare configurations A and B from per-image test Dice of every seed, B minus A.

    ``a`` and ``b`` are (seeds, images) matrices (a 1-D array is one seed) scoring the same
    images in the same column order. With >= 2 seeds in both arms the result is configuration
    level (needs >= 2 images); otherwise image level, using ``n_boot`` bootstrap resamples
    reproducible by ``seed``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    runs_a, runs_b = _as_runs(a, "a"), _as_runs(b, "b")
    if runs_a.shape[1] != runs_b.shape[1]:
        raise ValueError(
            f"the arms score different image sets: {runs_a.shape[1]} vs {runs_b.shape[1]} images"
        )
    if min(runs_a.shape[0], runs_b.shape[0]) < 2:
        return _image_level(runs_a, runs_b, confidence, n_boot, seed)
    if runs_a.shape[1] < 2:
        raise ValueError("a configuration-level comparison needs at least 2 test images")
    return _configuration_level(runs_a, runs_b, confidence)


def adjust_holm(results: Sequence[ConfigurationDifference]) -> list[ConfigurationDifference]:
    """Holm-adjust the p-values of the configuration-level results of one report.

    Each comparison at level alpha would make some "real" by chance when a report makes many;
    Holm keeps the chance of any false "real" below alpha. Image-level results are not tests
    of configurations and pass through unchanged. Raw p-values are kept in ``p_value``.
    """
    tested = [i for i, result in enumerate(results) if result.kind == CONFIGURATION]
    adjusted = list(results)
    if tested:
        _, p_holm, _, _ = multipletests([results[i].p_value for i in tested], method="holm")
        for i, p in zip(tested, p_holm, strict=True):
            adjusted[i] = replace(results[i], p_adjusted=float(p))
    return adjusted
