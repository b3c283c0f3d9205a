"""Configuration-level verdicts: hand-computed examples, A/A calibration, power, one seed, Holm.

The simulations draw per-image Dice from the model the procedure assumes, with known truth:
X[c, s, i] = 0.0 + shift_c + seed effect a[c, s] + image difficulty b[i] + config x image g[c, i]
+ residual e[c, s, i], N = 298 test images like the shipped test set. All random numbers come
from numpy Generators with fixed seeds, so every rate below is deterministic.
"""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pet_seg.report.statistics.seeds_needed import (
    detectable_difference,
    image_limit,
    power,
    seeds_needed,
)
from pet_seg.report.statistics.verdicts import (
    ONE_MODEL,
    ConfigurationDifference,
    adjust_holm,
    compare_configurations,
)

IMAGES = 298
REPETITIONS = 1000
INTERACTION_SD = 0.01  # config x image effect g[c, i]


def simulate(
    rng: np.random.Generator,
    seeds: int,
    *,
    shift: float = 0.0,
    seed_sd: float = 0.012,
    residual_sd: float = 0.03,
    repetitions: int = REPETITIONS,
) -> np.ndarray:
    """Per-image Dice, shape (repetitions, 2 arms, seeds, images); arm 1 is B, shifted."""
    difficulty = rng.beta(8.0, 2.0, size=(repetitions, 1, 1, IMAGES))  # mean 0.8, SD 0.12
    interaction = INTERACTION_SD * rng.standard_normal((repetitions, 2, 1, IMAGES))
    seed_effect = seed_sd * rng.standard_normal((repetitions, 2, seeds, 1))
    residual = residual_sd * rng.standard_normal((repetitions, 2, seeds, IMAGES))
    arm_shift = np.array([0.0, shift]).reshape(1, 2, 1, 1)
    return difficulty + interaction + seed_effect + residual + arm_shift


def share_real(runs: np.ndarray) -> float:
    """Share of repetitions whose configuration-level verdict is "real"."""
    results = [compare_configurations(a, b) for a, b in runs]
    assert all(r.kind == "configuration" for r in results)
    return float(np.mean([r.real for r in results]))


def old_share_real(runs: np.ndarray) -> float:
    """The old test: one model per arm (seed 0), paired over images, Wilcoxon p < 0.05."""
    d = runs[:, 1, 0, :] - runs[:, 0, 0, :]  # (repetitions, images)
    return float(np.mean(stats.wilcoxon(d, axis=1).pvalue < 0.05))


# --- hand-computed -------------------------------------------------------------------------


def test_two_by_three_by_hand():
    a = np.array([[0.6, 0.7, 0.8], [0.7, 0.8, 0.9]])
    b = np.array([[0.7, 0.8, 0.9], [0.9, 0.8, 0.7]])
    # Delta = mean(b) - mean(a) = 0.80 - 0.75 = 0.05.
    # a: row means 0.7, 0.8 -> var 0.005 -> v_A = 0.005 / 2 = 0.0025; additive, residual MS 0.
    # b: row means 0.8, 0.8 -> v_B = 0; residuals b - 0.8 = +-0.1, 0 -> SS 0.04 / df 2 = 0.02.
    # d = colmeans b - a = (0.8, 0.8, 0.8) - (0.65, 0.75, 0.85) = (0.15, 0.05, -0.05)
    # var(d) = (0.1**2 + 0 + 0.1**2) / 2 = 0.01; v_img = 0.01 / 3 - 0.02 / (2 * 3) = 0.
    # SE = sqrt(0.0025) = 0.05; df = 0.0025**2 / (0.0025**2 / 1) = 1; t = 0.05 / 0.05 = 1.
    # t with 1 df is Cauchy: p = P(|T| > 1) = 0.5; t_0.975 = tan(0.475 pi) = 12.706.
    result = compare_configurations(a, b)
    assert result.kind == "configuration"
    assert result.mean == pytest.approx(0.05)
    assert result.image_var == pytest.approx(0.0, abs=1e-15)
    assert result.df == pytest.approx(1.0)
    assert result.p_value == pytest.approx(0.5)
    half_width = math.tan(0.475 * math.pi) * 0.05
    assert (result.low, result.high) == pytest.approx((0.05 - half_width, 0.05 + half_width))
    assert result.seed_sd == pytest.approx(math.sqrt((0.005 + 0.0) / 2))
    assert result.verdict == "within noise"


def test_three_by_three_by_hand():
    a = np.array([[0.60, 0.70, 0.80], [0.64, 0.72, 0.80], [0.62, 0.74, 0.86]])
    b = np.array([[0.62, 0.76, 0.90], [0.60, 0.78, 0.88], [0.64, 0.74, 0.92]])
    # Delta = 0.76 - 0.72 = 0.04.
    # a: row means 0.70, 0.72, 0.74 -> var 0.0004 -> v_A = 0.0004 / 3 = 0.0036 / 27.
    #    residuals [[0, 0, 0], [.02, 0, -.02], [-.02, 0, .02]] -> SS 0.0016 / df 4 = 0.0004.
    # b: row means 0.76, 0.76 -+ 0.02 / 3 -> var (0.02 / 3)**2 -> v_B = 0.0004 / 27.
    #    residuals (0.04 / 3) * [[0, 0, 0], [-1, 2, -1], [1, -2, 1]] -> SS 12 (0.04 / 3)**2,
    #    / df 4 = 0.0016 / 3.
    # d = (0.62, 0.76, 0.90) - (0.62, 0.72, 0.82) = (0, 0.04, 0.08) -> var(d) = 0.0016.
    # v_img = 0.0016 / 3 - 0.0004 / 9 - (0.0016 / 3) / 9 = (0.0144 - 0.0012 - 0.0016) / 27
    #       = 0.0116 / 27.
    v_a, v_b, v_img = 0.0036 / 27, 0.0004 / 27, 0.0116 / 27
    se = math.sqrt(v_a + v_b + v_img)  # sqrt(0.0156 / 27) = 0.02404
    df = 0.0156**2 / ((0.0036**2 + 0.0004**2 + 0.0116**2) / 2)  # 27**2 cancels; = 3.2958
    result = compare_configurations(a, b)
    assert result.mean == pytest.approx(0.04)
    assert result.image_var == pytest.approx(v_img)
    assert result.df == pytest.approx(df)
    assert result.p_value == pytest.approx(2 * stats.t.sf(0.04 / se, df))
    t_crit = stats.t.ppf(0.975, df)
    assert (result.low, result.high) == pytest.approx((0.04 - t_crit * se, 0.04 + t_crit * se))
    assert result.seed_sd == pytest.approx(math.sqrt((2 * 0.0004 + 2 * 0.0004 / 9) / 4))
    assert result.seeds == (3, 3) and result.images == 3


def test_swapping_arms_negates_the_difference_with_unequal_seeds():
    runs = simulate(np.random.default_rng(5), 4, shift=0.01, repetitions=1)[0]
    forward = compare_configurations(runs[0, :2], runs[1])  # 2 vs 4 seeds
    backward = compare_configurations(runs[1], runs[0, :2])
    assert backward.mean == pytest.approx(-forward.mean)
    assert (backward.p_value, backward.df) == pytest.approx((forward.p_value, forward.df))
    assert forward.seeds == (2, 4)


def test_no_variance_at_all():
    same = np.full((2, 4), 0.8)
    assert compare_configurations(same, same).p_value == 1.0
    assert compare_configurations(same, same).verdict == "within noise"
    shifted = compare_configurations(same, same + 0.01)  # SE 0: any difference is certain
    assert (shifted.p_value, shifted.low, shifted.high) == (0.0, shifted.mean, shifted.mean)
    assert shifted.real


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "different image sets"),
        (np.zeros((2, 0)), np.zeros((2, 0)), "non-empty"),
        (np.array([[0.5, np.nan]] * 2), np.zeros((2, 2)), "NaN"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), "matrix"),
        (np.zeros((2, 1)), np.zeros((2, 1)), "at least 2 test images"),
    ],
)
def test_bad_inputs_are_refused(a, b, message):
    with pytest.raises(ValueError, match=message):
        compare_configurations(a, b)


# --- (a) A/A: same configuration in both arms ----------------------------------------------


@pytest.mark.parametrize(("seeds", "lowest"), [(3, 0.02), (2, 0.0)])
def test_same_configuration_is_rarely_real(seeds, lowest):
    # Measured: 3 seeds 0.036 (old test 0.780), 2 seeds 0.019 (old test 0.734). Estimated
    # Welch-Satterthwaite df are a little conservative with 2-3 seeds per arm.
    runs = simulate(np.random.default_rng(seeds), seeds)
    assert lowest <= share_real(runs) <= 0.07
    # The bug being fixed: one model per arm, paired over images, calls most A/A pairs "real".
    assert old_share_real(runs) > 0.3


# --- (b) power and seeds needed ------------------------------------------------------------

POWER_SETTING = {"seed_sd": 0.006, "residual_sd": 0.03}
# The truth in terms seeds_needed uses: SD of per-seed mean Dice, image part of var(B - A).
TRUE_SEED_SD = math.sqrt(0.006**2 + 0.03**2 / IMAGES)
TRUE_IMAGE_VAR = 2 * INTERACTION_SD**2 / IMAGES


def test_a_true_shift_is_found():
    # Measured: 0.02 with seed SD 0.006 and 5 seeds is "real" in 0.987 of repetitions.
    runs = simulate(np.random.default_rng(10), 5, shift=0.02, **POWER_SETTING)
    assert share_real(runs) >= 0.8


def test_seeds_needed_agrees_with_simulation():
    # Measured for 0.015: seeds_needed = 4 (nct power 0.80); simulated power at 4 seeds 0.79,
    # at 3 seeds 0.49 (nct 0.61). The nct power assumes the planning df 2(S - 1); the verdict
    # estimates its df from the data, lower and noisy, so with 3 seeds the simulation falls short
    # of it (0.02: nct 0.83, simulated 0.74); from about 4 seeds the two agree.
    setting = {"seed_sd": TRUE_SEED_SD, "image_var": TRUE_IMAGE_VAR, "images": IMAGES}
    needed = seeds_needed(0.015, **setting)
    assert needed is not None and needed >= 3
    rng = np.random.default_rng(11)
    at_needed = share_real(simulate(rng, needed, shift=0.015, **POWER_SETTING))
    fewer = share_real(simulate(rng, needed - 1, shift=0.015, **POWER_SETTING))
    assert at_needed >= 0.75
    assert at_needed == pytest.approx(power(0.015, needed, **setting), abs=0.05)
    assert fewer < at_needed - 0.1
    # detectable_difference inverts power at 80 %.
    delta = detectable_difference(needed, **setting)
    assert delta <= 0.015 and power(delta, needed, **setting) == pytest.approx(0.8)


def test_seeds_cannot_beat_too_few_images():
    # v_img alone keeps the SE above what 0.001 needs: no seed count helps.
    setting = {"seed_sd": TRUE_SEED_SD, "image_var": TRUE_IMAGE_VAR, "images": IMAGES}
    assert seeds_needed(0.001, **setting) is None
    assert image_limit(TRUE_IMAGE_VAR, IMAGES) > 0.001
    # Planning from a prior seed SD only (no image part): more seeds always help eventually.
    # Normal approximation: S = 2 sd**2 (z_0.975 + z_0.8)**2 / delta**2
    #                         = 2 * 0.006**2 * (1.960 + 0.842)**2 / 0.001**2 = 565.1.
    assert seeds_needed(0.001, seed_sd=0.006, max_seeds=1000) == pytest.approx(566, abs=2)


# --- (c) one seed per arm ------------------------------------------------------------------


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_one_seed_is_never_a_configuration_verdict(shift):
    runs = simulate(np.random.default_rng(20), 2, shift=shift, repetitions=3)
    for a, b in runs:
        for result in (
            compare_configurations(a[:1], b[:1], n_boot=2000),
            compare_configurations(a, b[0], n_boot=2000),  # 2 seeds vs 1
        ):
            assert result.kind == "image-level"
            assert not result.real and result.verdict == ONE_MODEL
    assert not adjust_holm([compare_configurations(runs[0, 0, :1], runs[0, 1, :1] + 0.3)])[0].real


def test_one_seed_image_level_matches_the_paired_test():
    # A large shift: the bootstrap CI excludes 0 and Wilcoxon is tiny, yet no "real".
    runs = simulate(np.random.default_rng(21), 1, shift=0.05, repetitions=1)[0]
    result = compare_configurations(runs[0], runs[1], n_boot=2000)
    d = runs[1, 0] - runs[0, 0]
    assert result.mean == pytest.approx(d.mean())
    assert result.low > 0 and result.p_value == pytest.approx(stats.wilcoxon(d).pvalue)
    assert not result.real
    zero = compare_configurations(runs[0], runs[0])
    assert (zero.p_value, zero.low, zero.high) == (1.0, 0.0, 0.0)


# --- Holm ----------------------------------------------------------------------------------


def _with_p(p_value: float, kind: str = "configuration") -> ConfigurationDifference:
    return ConfigurationDifference(
        kind, 0.01, 0.001, 0.02, p_value, None, 4.0, (3, 3), IMAGES, 0.01, 0.0, 0.95
    )


def test_holm_equals_statsmodels():
    raw = [0.01, 0.04, 0.03, 0.005, 0.5]
    adjusted = adjust_holm([_with_p(p) for p in raw])
    expected = multipletests(raw, method="holm")[1]  # 0.04, 0.09, 0.09, 0.025, 0.5
    assert [r.p_adjusted for r in adjusted] == pytest.approx(list(expected))
    assert [r.p_value for r in adjusted] == raw  # raw p kept


def test_holm_can_take_real_away():
    family = [_with_p(0.03), _with_p(0.04)]  # each below 0.05; Holm: 0.06, 0.06
    assert all(r.real for r in family)
    adjusted = adjust_holm(family)
    assert [r.p_adjusted for r in adjusted] == pytest.approx([0.06, 0.06])
    assert not any(r.real for r in adjusted)
    assert [r.verdict for r in adjusted] == ["within noise", "within noise"]


def test_holm_leaves_image_level_results_alone():
    family = [_with_p(0.03), _with_p(0.001, kind="image-level"), _with_p(0.04)]
    adjusted = adjust_holm(family)
    assert adjusted[1] == family[1]
    assert [adjusted[0].p_adjusted, adjusted[2].p_adjusted] == pytest.approx([0.06, 0.06])
