"""How many seeds per arm a difference needs, and the smallest difference S seeds can detect.

The configuration-level verdict (:mod:`.verdicts`) has standard error, with S seeds per arm,

    SE(S) = sqrt(2 * seed_sd**2 / S + image_var)

where ``seed_sd`` is the seed-to-seed SD of per-seed mean Dice (pooled over arms) and
``image_var`` the image variance component, and Welch-Satterthwaite df over the parts (df S - 1,
S - 1, N - 1). Its t statistic under a true difference delta is noncentral t with noncentrality
``delta / SE(S)``, so the power of the two-sided test comes from ``scipy.stats.nct``.

More seeds shrink only the seed part: ``image_var`` (too few test images) is a floor that no
number of seeds removes, so :func:`seeds_needed` may answer None; :func:`image_limit` gives that
floor. Feed it ``seed_sd``, ``image_var`` and ``images`` of a ConfigurationDifference; for
planning (``python -m pet_seg.plan``) with only a prior seed SD, leave ``image_var`` at 0.
"""

from __future__ import annotations

import math

from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.8


def _check(seeds: int, seed_sd: float, image_var: float, images: int | None) -> None:
    if seeds < 2:
        raise ValueError(f"a configuration-level test needs >= 2 seeds per arm, got {seeds}")
    if seed_sd < 0 or image_var < 0:
        raise ValueError("seed_sd and image_var must be >= 0")
    if seed_sd == 0 and image_var == 0:
        raise ValueError("no noise at all (seed_sd and image_var 0): power is not defined")
    if image_var > 0 and (images is None or images < 2):
        raise ValueError("image_var > 0 needs the number of test images (>= 2) for its df")


def standard_error(seeds: int, seed_sd: float, image_var: float = 0.0) -> float:
    """SE of the difference B - A with ``seeds`` seeds in each arm."""
    return math.sqrt(2.0 * seed_sd**2 / seeds + image_var)


def degrees_of_freedom(
    seeds: int, seed_sd: float, image_var: float = 0.0, images: int | None = None
) -> float:
    """Welch-Satterthwaite df of the two seed parts (df S - 1) and the image part (df N - 1)."""
    seed_part = seed_sd**2 / seeds  # per arm
    denominator = 2.0 * seed_part**2 / (seeds - 1)
    if image_var > 0:
        denominator += image_var**2 / (images - 1)
    return (2.0 * seed_part + image_var) ** 2 / denominator


def power(
    delta: float,
    seeds: int,
    *,
    seed_sd: float,
    image_var: float = 0.0,
    images: int | None = None,
    alpha: float = ALPHA,
) -> float:
    """Chance that a true difference ``delta`` comes out "real" with ``seeds`` seeds per arm."""
    _check(seeds, seed_sd, image_var, images)
    df = degrees_of_freedom(seeds, seed_sd, image_var, images)
    t_crit = stats.t.isf(alpha / 2.0, df)
    noncentrality = delta / standard_error(seeds, seed_sd, image_var)
    # P(T > t) + P(T < -t); the lower tail as sf of the mirrored T, as nct.cdf far out is NaN.
    upper = stats.nct.sf(t_crit, df, noncentrality)
    return float(upper + stats.nct.sf(t_crit, df, -noncentrality))


def detectable_difference(
    seeds: int,
    *,
    seed_sd: float,
    image_var: float = 0.0,
    images: int | None = None,
    alpha: float = ALPHA,
    target_power: float = POWER,
) -> float:
    """Smallest true difference found "real" with ``target_power`` using ``seeds`` per arm."""

    def shortfall(delta: float) -> float:
        return power(delta, seeds, seed_sd=seed_sd, image_var=image_var, images=images,
                     alpha=alpha) - target_power  # fmt: skip

    high = 4.0 * standard_error(seeds, seed_sd, image_var)
    while shortfall(high) < 0:  # power grows with delta; bracket the root
        high *= 2.0
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-12))


def seeds_needed(
    delta: float,
    *,
    seed_sd: float,
    image_var: float = 0.0,
    images: int | None = None,
    alpha: float = ALPHA,
    target_power: float = POWER,
    max_seeds: int = 50,
) -> int | None:
    """Smallest S in 2..``max_seeds`` per arm whose power for ``delta`` reaches the target.

    None when no S up to ``max_seeds`` does: usually because ``image_var`` alone (too few test
    images) keeps the SE above what ``delta`` needs; compare ``delta`` with :func:`image_limit`.
    """
    for seeds in range(2, max_seeds + 1):
        kwargs = {"seed_sd": seed_sd, "image_var": image_var, "images": images, "alpha": alpha}
        if power(abs(delta), seeds, **kwargs) >= target_power:
            return seeds
    return None


def image_limit(
    image_var: float, images: int, *, alpha: float = ALPHA, target_power: float = POWER
) -> float:
    """The detectable difference with infinitely many seeds: what the test images alone allow.

    A difference at or below it needs more test images, not more seeds.
    """
    return detectable_difference(
        2, seed_sd=0.0, image_var=image_var, images=images, alpha=alpha, target_power=target_power
    )
