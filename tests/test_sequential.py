"""Group-sequential verdicts (pet_seg.adaptive): boundaries, decisions, the round rule, and the
proof by simulation that looking after every round keeps the error rate.

Simulations draw seeds x images score matrices with a known truth (pet_seg.adaptive.simulation:
seed SD 0.014 as measured on the shipped pets, N = 298 test images, the verdicts tests' image
noise) from fixed numpy seeds, so every rate is deterministic. A rate "at most 5 %" is checked
with a one-sided binomial margin: the observed count may not exceed the 99th percentile of
Binomial(repetitions, 0.05). The fast tier uses a few hundred repetitions; the slow tier 4000.
"""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from pet_seg.adaptive.design import Progress, one_key_pairs, review, seeds_wanted
from pet_seg.adaptive.sequential import (
    EQUIVALENT,
    OPEN,
    REAL,
    UNDECIDED,
    Look,
    SequentialDesign,
    hwang_shih_decani,
    look_at,
    obrien_fleming,
    z_boundaries,
)
from pet_seg.adaptive.simulation import IMAGES, INTERACTION_SD, SEED_SD, draw_scores, simulate
from pet_seg.report.statistics.seeds_needed import power
from pet_seg.report.statistics.verdicts import compare_configurations

IMAGE_VAR = 2 * INTERACTION_SD**2 / IMAGES  # the simulation's image variance component
ONE = [(0, 1)]
GRID_2X2 = one_key_pairs([{"a": x, "b": y} for x in "01" for y in "01"])  # 4 comparisons
ONE_KEY_4 = one_key_pairs([{"a": x} for x in "0123"])  # 6 comparisons


def at_most_5_percent(rate: float, repetitions: int) -> bool:
    return round(rate * repetitions) <= stats.binom.ppf(0.99, repetitions, 0.05)


# --- boundaries -----------------------------------------------------------------------------


def test_one_look_is_the_fixed_test():
    assert z_boundaries((1.0,), 0.05, obrien_fleming) == pytest.approx((stats.norm.isf(0.025),))


@pytest.mark.parametrize("spending", [obrien_fleming, hwang_shih_decani(-4)])
def test_boundaries_spend_what_the_spending_function_allows(spending):
    """The exit probability up to each look, from scipy's multivariate normal over the
    canonical correlation sqrt(t_i / t_j), equals the alpha spent by then."""
    fractions = (0.4, 0.7, 1.0)
    bounds = z_boundaries(fractions, 0.05, spending)
    assert all(a > b for a, b in itertools.pairwise(bounds))  # wide early
    t = np.array(fractions)
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    for k in range(1, len(t) + 1):
        mvn = stats.multivariate_normal(cov=corr[:k, :k], abseps=1e-7, releps=1e-7, seed=0)
        c = np.array(bounds[:k])
        stay = mvn.cdf(c, lower_limit=-c)
        spent = 0.05 if k == len(t) else spending(0.05, t[k - 1])
        assert 1 - stay == pytest.approx(spent, abs=5e-5)


def test_bonferroni_splits_alpha_over_comparisons():
    one, four = SequentialDesign(), SequentialDesign(comparisons=4)
    assert four.boundaries == z_boundaries(
        tuple(s / 8 for s in range(2, 9)), 0.0125, obrien_fleming
    )
    assert all(b4 > b1 for b4, b1 in zip(four.boundaries, one.boundaries, strict=True))


# --- decisions -------------------------------------------------------------------------------


def test_look_at_is_the_verdicts_statistic():
    scores = draw_scores(np.random.default_rng(0), [0.0, 0.01], cap=4)
    look = look_at(scores[0], scores[1])
    fixed = compare_configurations(scores[0], scores[1])
    assert look.mean == pytest.approx(fixed.mean) and look.df == pytest.approx(fixed.df)
    assert 2 * stats.t.sf(abs(look.mean) / look.se, look.df) == pytest.approx(fixed.p_value)


def test_the_last_look_with_one_look_planned_is_the_fixed_interval():
    design = SequentialDesign(first=8, cap=8)
    assert design.t_boundary(8, 10.0) == pytest.approx(stats.t.isf(0.025, 10.0))


@pytest.mark.parametrize(
    ("mean", "se", "seeds", "kind"),
    [
        (0.05, 0.002, 4, REAL),  # far from 0
        (-0.05, 0.002, 4, REAL),
        (0.0005, 0.0005, 4, EQUIVALENT),  # interval well inside +-0.005
        (0.003, 0.01, 4, OPEN),
        (0.003, 0.01, 8, UNDECIDED),  # at the cap
    ],
)
def test_decisions_come_from_the_repeated_interval(mean, se, seeds, kind):
    design = SequentialDesign()
    decision = design.decide(Look(mean, se, 30.0, seeds))
    assert decision.kind == kind
    half = design.t_boundary(seeds, 30.0) * se
    assert (decision.low, decision.high) == pytest.approx((mean - half, mean + half))
    assert decision.could_hide == pytest.approx(abs(mean) + half)


def test_an_early_look_needs_more_than_the_last():
    design = SequentialDesign()
    assert design.t_boundary(2, 30.0) > design.t_boundary(5, 30.0) > design.t_boundary(8, 30.0)
    assert design.t_boundary(8, 30.0) > stats.t.isf(0.025, 30.0)  # the price of looking


# --- the round rule --------------------------------------------------------------------------


def test_one_key_pairs_are_the_reports_comparisons():
    grid = [{"a": x, "b": y} for x in "01" for y in "01"]
    assert one_key_pairs(grid) == [(0, 1), (0, 2), (1, 3), (2, 3)]  # no diagonal pairs


def test_only_arms_of_open_comparisons_get_seeds():
    design = SequentialDesign(comparisons=3)
    pairs = one_key_pairs([{"lr": v} for v in "abc"])  # (0, 1), (0, 2), (1, 2)
    progress = Progress(pairs)
    assert seeds_wanted(progress, {}, design) == {0: 2, 1: 2, 2: 2}  # the first batch
    rng = np.random.default_rng(1)
    scores = draw_scores(rng, [0.0, 0.3, 0.3], cap=8)  # config 0 far below the others
    for seeds in (2, 3, 4):  # with 1-2 seed df an early look needs a very large t
        review(progress, {i: scores[i, :seeds] for i in range(3)}, design)
    kinds = {p: o.decision.kind for p, o in progress.outcomes.items()}
    assert kinds[(0, 1)] == kinds[(0, 2)] == REAL and kinds[(1, 2)] == OPEN
    assert progress.outcomes[(0, 1)].round == 3 and progress.outcomes[(1, 2)].round == 3
    assert seeds_wanted(progress, {0: 4, 1: 4, 2: 4}, design) == {1: 5, 2: 5}


# --- proof by simulation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "configs", "repetitions"), [(ONE, 2, 400), (GRID_2X2, 4, 150), (ONE_KEY_4, 4, 150)]
)
def test_aa_false_real_over_all_looks_stays_at_5_percent(pairs, configs, repetitions):
    design = SequentialDesign(comparisons=len(pairs))
    rates = simulate([0.0] * configs, pairs, design, repetitions=repetitions, seed=11)
    assert at_most_5_percent(rates.any_real, repetitions), rates


class NaiveDesign(SequentialDesign):
    """Every look at the fixed test's 5 %: what looking without a design does."""

    @property
    def boundaries(self) -> tuple[float, ...]:
        return (stats.norm.isf(0.025),) * len(self.looks)


def test_naive_looks_would_inflate_the_error():
    """The same sweep testing at a plain 5 % at every look (no spending) is "real" too often:
    the simulation can see the problem the design solves."""
    naive = NaiveDesign()
    assert naive.t_boundary(8, 30.0) == pytest.approx(stats.t.isf(0.025, 30.0))
    rates = simulate([0.0, 0.0], ONE, naive, repetitions=400, seed=11)
    assert rates.any_real > 0.08


def fixed_runs_at_equal_power(adaptive_power: float, delta: float, configs: int = 2) -> int:
    """Runs of the fixed design (same seeds per arm, t test at 5 %) whose power, by the
    seeds_needed formula with the simulation's true noise, reaches the adaptive design's."""
    for seeds in range(2, 50):
        fixed = power(delta, seeds, seed_sd=SEED_SD, image_var=IMAGE_VAR, images=IMAGES)
        if fixed >= adaptive_power:
            return configs * seeds
    raise AssertionError("no fixed design reaches that power")


def test_a_real_difference_is_found_with_fewer_runs_than_the_fixed_design():
    rates = simulate([0.0, 0.02], ONE, SequentialDesign(), repetitions=400, seed=12)
    assert rates.real > 0.6, rates  # 0.70 over 4000 repetitions (docs/verdict-sweeps.md)
    assert rates.mean_runs < fixed_runs_at_equal_power(rates.real, 0.02) - 1.0, rates


@pytest.mark.slow
@pytest.mark.parametrize(("pairs", "configs"), [(ONE, 2), (GRID_2X2, 4), (ONE_KEY_4, 4)])
def test_aa_rate_with_4000_repetitions(pairs, configs):
    design = SequentialDesign(comparisons=len(pairs))
    rates = simulate([0.0] * configs, pairs, design, repetitions=4000, seed=21)
    assert at_most_5_percent(rates.any_real, 4000), rates


@pytest.mark.slow
@pytest.mark.parametrize("delta", [0.02, 0.01])
def test_power_and_runs_with_4000_repetitions(delta):
    rates = simulate([0.0, delta], ONE, SequentialDesign(), repetitions=4000, seed=22)
    fixed = fixed_runs_at_equal_power(rates.real, delta)
    assert rates.mean_runs < fixed, (rates, fixed)
    cap_power = power(delta, 8, seed_sd=SEED_SD, image_var=IMAGE_VAR, images=IMAGES)
    assert rates.real > cap_power - 0.1  # looking early costs little power at the cap
    assert math.isfinite(rates.mean_seeds)
