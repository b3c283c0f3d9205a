"""Seed-adaptive sweeps on simulated score matrices with a known truth.

The model is the verdicts module's (tests/test_verdicts.py), with the spreads measured on the
shipped pets: per-image test Dice of configuration c, seed s, image i is

    X[c, s, i] = difficulty[i] + shift[c] + seed_sd * a[c, s] + interaction_sd * g[c, i]
                 + residual_sd * e[c, s, i]

with N = 298 test images, seed SD 0.014 (three seeds of one configuration: 0.7671, 0.7665,
0.7425), a configuration x image interaction of SD 0.01 and a seed x image residual of SD 0.03
(the verdicts tests' values, which give an image variance component of about 7e-7, i.e. an SE
floor of about 0.0008 Dice against 0.007 from 8 seeds). ``difficulty`` is shared by all
configurations and cancels from every difference. Each repetition draws the ``cap`` seeds of
every configuration up front and the sweep uses the first ones it asks for, so a repetition is
a function of (seed, repetition) only: results do not depend on the machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pet_seg.adaptive.design import Pair, Progress, review, seeds_wanted
from pet_seg.adaptive.sequential import EQUIVALENT, REAL, SequentialDesign

IMAGES = 298
SEED_SD = 0.014
INTERACTION_SD = 0.01
RESIDUAL_SD = 0.03


@dataclass(frozen=True)
class Outcome:
    """One simulated sweep: each comparison's decision kind and seeds, and the runs it took."""

    kinds: dict[Pair, str]
    seeds: dict[Pair, int]
    runs: int


def draw_scores(
    rng: np.random.Generator, shifts: Sequence[float], cap: int, images: int = IMAGES,
    seed_sd: float = SEED_SD,
) -> np.ndarray:  # fmt: skip
    """(configurations, cap, images) per-image Dice of one repetition."""
    configs = len(shifts)
    difficulty = rng.beta(8.0, 2.0, size=(1, 1, images))
    interaction = INTERACTION_SD * rng.standard_normal((configs, 1, images))
    seed_effect = seed_sd * rng.standard_normal((configs, cap, 1))
    residual = RESIDUAL_SD * rng.standard_normal((configs, cap, images))
    shift = np.asarray(shifts, dtype=np.float64).reshape(configs, 1, 1)
    return difficulty + interaction + seed_effect + residual + shift


def run_sweep(scores: np.ndarray, pairs: Sequence[Pair], design: SequentialDesign) -> Outcome:
    """The sweeper's rounds on drawn scores: seeds are taken in order, as the sweeper trains
    seeds 0, 1, 2, ... of each configuration."""
    seeds = {i: 0 for i in range(scores.shape[0])}
    progress = Progress(list(pairs))
    while wanted := seeds_wanted(progress, seeds, design):
        seeds.update(wanted)
        matrices = {i: scores[i, :n] for i, n in seeds.items() if n}
        review(progress, matrices, design)
    outcomes = progress.outcomes
    return Outcome(
        {p: outcomes[p].decision.kind for p in pairs},
        {p: outcomes[p].decision.seeds for p in pairs},
        sum(seeds.values()),
    )


@dataclass(frozen=True)
class Rates:
    """Shares over repetitions: any false "real" (family), each kind per comparison, runs."""

    repetitions: int
    any_real: float  # share of sweeps with >= 1 comparison "real"
    real: float  # share of comparisons "real"
    equivalent: float
    mean_runs: float
    mean_seeds: float  # seeds per arm at the decision, averaged over comparisons


def simulate(
    shifts: Sequence[float], pairs: Sequence[Pair], design: SequentialDesign, *,
    repetitions: int, seed: int = 0, seed_sd: float = SEED_SD,
) -> Rates:  # fmt: skip
    """Run ``repetitions`` simulated sweeps of configurations with true ``shifts``."""
    rng = np.random.default_rng(seed)
    outcomes = [
        run_sweep(draw_scores(rng, shifts, design.cap, seed_sd=seed_sd), pairs, design)
        for _ in range(repetitions)
    ]
    kinds = np.array([[o.kinds[p] for p in pairs] for o in outcomes])  # (reps, pairs)
    return Rates(
        repetitions,
        float(np.mean(np.any(kinds == REAL, axis=1))),
        float(np.mean(kinds == REAL)),
        float(np.mean(kinds == EQUIVALENT)),
        float(np.mean([o.runs for o in outcomes])),
        float(np.mean([[o.seeds[p] for p in pairs] for o in outcomes])),
    )
