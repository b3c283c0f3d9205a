"""Which differences between configurations hold up: pairs, verdicts, and what more seeds buy.

A comparison is made only between configurations that differ in exactly one swept key (cosine
vs one-cycle with the same model), so its difference has one cause. Each configuration is a
(seeds x images) matrix of per-image test Dice on the images every run scored, and
``pet_seg.report.statistics.verdicts`` turns two such matrices into a verdict that counts both
noise sources (which seed trained the model, which images were tested). The report's
comparisons are one family: their p-values are Holm-adjusted together. With one seed in an arm
there is no configuration-level verdict, only the image-level difference of the two trained
models. ``pet_seg.report.render.verdicts`` words all of it for ``report.md``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import effective_value
from pet_seg.report.statistics.paired import SeedSummary, seed_interval
from pet_seg.report.statistics.seeds_needed import detectable_difference, seeds_needed
from pet_seg.report.statistics.verdicts import (
    CONFIGURATION,
    ONE_MODEL,
    ConfigurationDifference,
    adjust_holm,
    compare_configurations,
)

CONFIDENCE = 0.95
TARGET_DIFFERENCE = 0.005  # the Dice difference "how many seeds" is asked for by default
SEEDS_FOR_A_VERDICT = 3  # what the report recommends (2 is the least that gives one)


@dataclass(frozen=True)
class Comparison:
    """Δ = ``changed=second`` minus ``changed=first``, every other key (``shared``) equal.

    ``minutes_per_run`` is the mean measured training time of the two arms' runs (None when no
    run recorded one): what one more seed of either arm costs on the machine that ran them.
    """

    changed: str
    first: str
    second: str
    shared: str
    result: ConfigurationDifference
    minutes_per_run: float | None = None

    @property
    def verdict(self) -> str:
        if self.result.kind != CONFIGURATION:
            return ONE_MODEL
        if not self.result.real:
            return "within noise"
        better = self.second if self.result.mean > 0 else self.first
        return f"real: {self.changed}={better} better"


def score_matrix(group: Sequence[Run], names: Sequence[str]) -> np.ndarray:
    """(seeds, images) per-image test Dice of a configuration's runs, columns in ``names``."""
    rows = []
    for run in group:
        if run.test_dice is not None:
            scores = dict(zip(run.test_names, run.test_dice, strict=True))
            rows.append([scores[name] for name in names])
    return np.array(rows, dtype=np.float64)


def common_images(groups: Sequence[Sequence[Run]]) -> list[str]:
    """Test images every tested run of these configurations scored, in the first run's order."""
    tested = [run for group in groups for run in group if run.test_dice is not None]
    if not tested:
        return []
    shared = set.intersection(*(set(run.test_names) for run in tested))
    return [name for name in tested[0].test_names if name in shared]


def _minutes_per_run(runs: Sequence[Run]) -> float | None:
    times = [run.summary.get("train_time_s") for run in runs]
    times = [t for t in times if isinstance(t, int | float) and math.isfinite(t)]
    return float(np.mean(times)) / 60 if times else None


def compare_pair(
    first: Sequence[Run], second: Sequence[Run], keys: Sequence[str]
) -> Comparison | None:
    """The verdict for two configurations, or None unless exactly one key differs."""
    differing = [k for k in keys if effective_value(first[0], k) != effective_value(second[0], k)]
    names = common_images([first, second])
    if len(differing) != 1 or not names:
        return None
    key = differing[0]
    shared = ", ".join(f"{k}={effective_value(first[0], k)}" for k in keys if k != key)
    result = compare_configurations(
        score_matrix(first, names), score_matrix(second, names), confidence=CONFIDENCE
    )
    value = effective_value
    return Comparison(
        key, value(first[0], key), value(second[0], key), shared, result,
        _minutes_per_run([*first, *second]),
    )  # fmt: skip


def comparisons(groups: Sequence[Sequence[Run]], keys: Sequence[str]) -> list[Comparison]:
    """Every pair of finished configurations differing in one swept key, Holm-adjusted together."""
    finished = [g for g in groups if g[0].status == "finished"]
    found = [c for a, b in combinations(finished, 2) if (c := compare_pair(a, b, keys))]
    adjusted = adjust_holm([c.result for c in found])
    return [
        Comparison(c.changed, c.first, c.second, c.shared, r, c.minutes_per_run)
        for c, r in zip(found, adjusted, strict=True)
    ]


def seed_summaries(groups: Sequence[Sequence[Run]]) -> list[tuple[str, SeedSummary]]:
    """(label, mean test Dice over seeds with its t-interval) for rows with several seeds."""
    rows = []
    for group in groups:
        means = [float(r.test_dice.mean()) for r in group if r.test_dice is not None]
        if group[0].status == "finished" and len(means) > 1:
            rows.append((group[0].label, seed_interval(np.array(means), confidence=CONFIDENCE)))
    return rows


@dataclass(frozen=True)
class SeedAdvice:
    """What this sweep could detect, and the seeds (and minutes) a target difference needs."""

    comparison: Comparison
    seeds: int  # per arm now (the smaller arm)
    detectable: float | None  # smallest Δ found with 80 % power at the current seeds
    needed: int | None  # seeds per arm for ``target`` (None: more seeds cannot get there)
    target: float

    @property
    def extra_runs(self) -> int | None:
        if self.needed is None:
            return None
        return sum(max(0, self.needed - s) for s in self.comparison.result.seeds)

    @property
    def minutes(self) -> float | None:
        per_run, extra = self.comparison.minutes_per_run, self.extra_runs
        return None if per_run is None or extra is None else per_run * extra


def seed_advice(found: Sequence[Comparison], target: float = TARGET_DIFFERENCE) -> list[SeedAdvice]:
    """For each configuration-level comparison: detectable Δ now, seeds needed for ``target``."""
    advice = []
    for c in found:
        r = c.result
        if r.kind != CONFIGURATION or not r.seed_sd:
            continue
        noise = {"seed_sd": r.seed_sd, "image_var": r.image_var or 0.0, "images": r.images}
        seeds = min(r.seeds)
        detectable = detectable_difference(seeds, **noise)
        advice.append(SeedAdvice(c, seeds, detectable, seeds_needed(target, **noise), target))
    return advice


COMPARISON_COLUMNS = [
    "key", "first", "second", "shared", "kind", "seeds_first", "seeds_second", "images",
    "diff_mean", "ci_low", "ci_high", "p_value", "p_holm", "seed_sd", "real", "verdict",
]  # fmt: skip


def comparison_rows(found: Sequence[Comparison]) -> list[list[object]]:
    """``comparisons.csv`` / W&B table rows, full precision."""
    return [_row(c) for c in found]


def _row(c: Comparison) -> list[object]:
    r = c.result
    return [
        *(c.changed, c.first, c.second, c.shared, r.kind, *r.seeds, r.images),
        *(r.mean, r.low, r.high, r.p_value, r.p_adjusted, r.seed_sd, r.real, c.verdict),
    ]


def write_comparisons_csv(path: Path, found: Sequence[Comparison]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COMPARISON_COLUMNS)
        writer.writerows(comparison_rows(found))
