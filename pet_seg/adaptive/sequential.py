"""Group-sequential verdicts: look after every round of seeds without inflating false "real"s.

Why a group-sequential design: the seed-adaptive sweep looks at each comparison after every
round (2, 3, ... up to ``cap`` seeds per arm) and stops it once it is settled. Testing at 5 %
at each of 7 looks and stopping at the first "real" makes an A/A comparison "real" far more
often than 5 %. A Lan-DeMets alpha-spending design fixes the total: look k may spend only
``spend(t_k) - spend(t_{k-1})`` of alpha, where ``t_k = seeds_k / cap`` is the planned
information fraction (the seed part of the variance dominates and shrinks as 1/seeds; the
image part is ~1 % of it on the shipped pets, see ``pet_seg.adaptive.simulation``).

What it assumes: the verdicts module's statistic (``pet_seg.report.statistics.verdicts``:
difference of mean per-image Dice, SE from the two seed parts and the image part, Welch-
Satterthwaite df) is, across looks, a Brownian motion in information (the canonical joint
distribution, corr(Z_i, Z_j) = sqrt(t_i / t_j)) once converted to the normal scale. Seed means
are taken as normal. The boundary is computed on the normal scale and converted to the t scale
look by look by matching the nominal tail probability (the t quantile at that look's Welch
df), which keeps the per-look error with 1-7 df of seed variance; the simulations in
tests/test_sequential.py check the result over all looks.

How the boundaries are computed: by the recursive numerical integration of Armitage,
McPherson and Rowe (1969), as R's ``ldbounds`` and ``gsDesign`` do, on a fixed grid:
deterministic and a few milliseconds per design. scipy's ``multivariate_normal.cdf`` over the
canonical correlation gives the same crossing probabilities (a test checks it) but is a
randomised quasi-Monte-Carlo estimate and ~1000x slower in 7 dimensions.

Which spending function: ``obrien_fleming`` (Lan-DeMets O'Brien-Fleming type) is the default.
It spends almost nothing at 2-3 seeds, where the seed variance rests on 1-2 degrees of freedom
and a t boundary would be enormous anyway, and keeps the last look's boundary close to the
fixed design's, so a comparison run to the cap loses little power. Hwang-Shih-DeCani
(``hwang_shih_decani``, gamma -4 ... 1) spends earlier; ``scripts/simulate_adaptive.py`` and
docs/verdict-sweeps.md compare the two on runs used at equal error.

Decisions come from repeated confidence intervals (Jennison & Turnbull 1989): the interval
``mean +- q_k SE`` at look k, with ``q_k`` the t-scale boundary, covers the true difference at
every look simultaneously with probability >= 1 - alpha, so any stopping rule based on it is
valid: *real* when it excludes 0, *equivalent* when it lies inside +-delta, and at the cap
*undecided*, with the largest |difference| the interval still allows.

Several comparisons: plain Bonferroni, each comparison gets its own spending design at
``alpha / m``. With simultaneous coverage per comparison this bounds the chance of any wrong
decision (a false "real" *or* a false "equivalent") over all comparisons and looks by alpha,
whichever rounds they stop at. A Holm-type alpha recycling (Maurer & Bretz 2013) would pass a
rejected comparison's alpha to the others; it is valid for the tests of "no difference", but
not for the equivalence decisions this design also makes from the same intervals, so it is not
used. With m <= 6 Bonferroni costs about one seed per arm at most (docs/verdict-sweeps.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from scipy import optimize, special, stats

from pet_seg.report.statistics.verdicts import satterthwaite_df, variance_components

REAL = "real"
EQUIVALENT = "equivalent"
UNDECIDED = "undecided"  # at the cap
OPEN = "open"  # still collecting seeds
GRID = 801  # points of the numerical integration over the continuation region


def obrien_fleming(alpha: float, t: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: 2 - 2 Phi(z_{1-alpha/2} / sqrt(t))."""
    return float(2.0 * stats.norm.sf(stats.norm.isf(alpha / 2.0) / math.sqrt(t)))


def hwang_shih_decani(gamma: float) -> Callable[[float, float], float]:
    """Hwang-Shih-DeCani spending alpha (1 - e^{-gamma t}) / (1 - e^{-gamma}) (gamma != 0)."""

    def spend(alpha: float, t: float) -> float:
        return float(alpha * (1.0 - math.exp(-gamma * t)) / (1.0 - math.exp(-gamma)))

    spend.__name__ = f"hwang_shih_decani({gamma:g})"
    return spend


@lru_cache(maxsize=64)
def z_boundaries(
    fractions: tuple[float, ...], alpha: float, spending: Callable[[float, float], float]
) -> tuple[float, ...]:
    """Two-sided normal-scale boundaries c_k: P(|Z_j| < c_j for j < k, |Z_k| >= c_k) under no
    difference equals the alpha spent at look k; the last look spends what is left.

    Works on W_k = Z_k sqrt(t_k), which has independent normal increments of variance
    t_k - t_{k-1}; ``density`` is W's sub-density on the continuation region of the looks so far.
    """
    bounds: list[float] = []
    spent = 0.0
    grid = density = None
    previous_t = 0.0
    for k, t in enumerate(fractions):
        target = (alpha if k == len(fractions) - 1 else spending(alpha, t)) - spent
        step_sd = math.sqrt(t - previous_t)

        def crossing(c: float, grid=grid, density=density, step_sd=step_sd, t=t) -> float:
            edge = c * math.sqrt(t)
            if grid is None:  # first look: W_1 ~ N(0, t_1)
                return float(2.0 * stats.norm.sf(c))
            tail = stats.norm.sf((edge - grid) / step_sd) + stats.norm.cdf((-edge - grid) / step_sd)
            return float(np.trapezoid(density * tail, grid))

        if target <= 1e-15:
            c = 40.0  # nothing to spend at this look: never stop here
        else:
            c = float(
                optimize.brentq(
                    lambda c, target=target: crossing(c) - target, 0.0, 40.0, xtol=1e-10
                )
            )
        bounds.append(c)
        spent += crossing(c)
        edge = c * math.sqrt(t)
        new_grid = np.linspace(-edge, edge, GRID)
        if grid is None:
            new_density = stats.norm.pdf(new_grid, scale=step_sd)
        else:  # convolve the surviving density with the increment's normal density
            kernel = stats.norm.pdf((new_grid[:, None] - grid[None, :]) / step_sd) / step_sd
            new_density = np.trapezoid(kernel * density[None, :], grid, axis=1)
        grid, density, previous_t = new_grid, new_density, t
    return tuple(bounds)


@dataclass(frozen=True)
class Look:
    """One comparison at one look: Δ = mean(B) - mean(A), its SE and Welch df, seeds per arm."""

    mean: float
    se: float
    df: float
    seeds: int


def look_at(runs_a: np.ndarray, runs_b: np.ndarray) -> Look:
    """The verdicts module's statistic for (seeds, images) matrices of arms A and B."""
    variances = variance_components(runs_a, runs_b)  # (3,) seed A, seed B, images
    se = math.sqrt(float(variances.sum()))
    dfs = np.array([runs_a.shape[0] - 1, runs_b.shape[0] - 1, runs_a.shape[1] - 1.0])
    df = satterthwaite_df(variances, dfs) if se > 0 else math.inf
    mean = float(runs_b.mean() - runs_a.mean())
    return Look(mean, se, df, min(runs_a.shape[0], runs_b.shape[0]))


@dataclass(frozen=True)
class Decision:
    """What a look decided, with the repeated confidence interval it decided on."""

    kind: str  # real | equivalent | undecided (at the cap) | open
    mean: float
    low: float
    high: float
    seeds: int

    @property
    def could_hide(self) -> float:
        """The largest |difference| the interval still allows."""
        return max(abs(self.low), abs(self.high))


@dataclass(frozen=True)
class SequentialDesign:
    """Looks at ``first``..``cap`` seeds per arm, two-sided ``alpha`` split over ``comparisons``.

    ``delta``: the smallest difference the user cares about; a comparison whose interval lies
    inside +-delta is settled as equivalent.
    """

    first: int = 2
    cap: int = 8
    alpha: float = 0.05
    delta: float = 0.005
    comparisons: int = 1
    spending: Callable[[float, float], float] = obrien_fleming

    def __post_init__(self) -> None:
        if not 2 <= self.first <= self.cap:
            raise ValueError(
                f"need 2 <= first <= cap seeds, got first {self.first}, cap {self.cap}"
            )
        if not 0 < self.alpha < 1 or self.comparisons < 1 or self.delta < 0:
            raise ValueError("alpha in (0, 1), comparisons >= 1 and delta >= 0, please")

    @property
    def looks(self) -> tuple[int, ...]:
        return tuple(range(self.first, self.cap + 1))

    @cached_property
    def boundaries(self) -> tuple[float, ...]:
        """Normal-scale boundaries, one per planned look, at ``alpha / comparisons``."""
        fractions = tuple(s / self.cap for s in self.looks)
        return z_boundaries(fractions, self.alpha / self.comparisons, self.spending)

    def t_boundary(self, seeds: int, df: float) -> float:
        """The look's boundary on the t scale: the same nominal tail at the look's Welch df."""
        z = self.boundaries[seeds - self.first]
        # stdtrit(df, p) is the t quantile: scipy.special's, ~100x faster than stats.t.isf
        return float(-special.stdtrit(df, special.ndtr(-z))) if math.isfinite(df) else z

    def decide(self, look: Look) -> Decision:
        """Settle or keep open. A look between planned ones uses the planned look below it (its
        boundary is larger, so this is conservative); beyond the cap, the cap's."""
        seeds = min(max(look.seeds, self.first), self.cap)
        if look.seeds < self.first:
            return Decision(OPEN, look.mean, -math.inf, math.inf, look.seeds)
        half = self.t_boundary(seeds, look.df) * look.se
        low, high = look.mean - half, look.mean + half
        if low > 0 or high < 0:
            kind = REAL
        elif -self.delta < low and high < self.delta:
            kind = EQUIVALENT
        else:
            kind = UNDECIDED if look.seeds >= self.cap else OPEN
        return Decision(kind, look.mean, low, high, look.seeds)
