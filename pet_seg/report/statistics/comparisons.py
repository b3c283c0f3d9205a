"""Which differences in Table 1 are real: paired comparisons and seed intervals for the report.

A comparison is made only between configurations that differ in exactly one swept key (cosine
vs one-cycle with the same model), so its difference has one cause. Seeds of a configuration
are averaged image by image first; the paired statistics then see one score per test image.
The numbers come from ``pet_seg.report.statistics.paired``; this module picks the pairs and
words them.
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
from pet_seg.report.statistics.paired import (
    PairedDifference,
    SeedSummary,
    paired_difference,
    seed_interval,
)

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Comparison:
    """Δ = ``changed=second`` minus ``changed=first``, every other key (``shared``) equal."""

    changed: str
    first: str
    second: str
    shared: str
    result: PairedDifference

    @property
    def verdict(self) -> str:
        if self.result.within_noise:
            return "within noise"
        better = self.second if self.result.mean > 0 else self.first
        return f"real: {self.changed}={better} better"


def per_image(group: Sequence[Run]) -> dict[str, float]:
    """Per-image test Dice of a configuration, averaged over its seeds (images all runs have)."""
    tested = [run for run in group if run.test_dice is not None]
    if not tested:
        return {}
    common = set.intersection(*(set(run.test_names) for run in tested))
    scores = [dict(zip(run.test_names, run.test_dice, strict=True)) for run in tested]
    return {
        name: float(np.mean([s[name] for s in scores]))
        for name in tested[0].test_names
        if name in common
    }


def _differing(first: Run, second: Run, keys: Sequence[str]) -> list[str]:
    return [k for k in keys if effective_value(first, k) != effective_value(second, k)]


def compare_pair(
    first: Sequence[Run], second: Sequence[Run], keys: Sequence[str]
) -> Comparison | None:
    """The paired comparison of two configurations, or None unless exactly one key differs."""
    differing = _differing(first[0], second[0], keys)
    scores_a, scores_b = per_image(first), per_image(second)
    names = [name for name in scores_a if name in scores_b]
    if len(differing) != 1 or not names:
        return None
    key = differing[0]
    shared = ", ".join(f"{k}={effective_value(first[0], k)}" for k in keys if k != key)
    result = paired_difference(
        np.array([scores_b[n] for n in names]),
        np.array([scores_a[n] for n in names]),
        confidence=CONFIDENCE,
    )
    return Comparison(
        key, effective_value(first[0], key), effective_value(second[0], key), shared, result
    )


def comparisons(groups: Sequence[Sequence[Run]], keys: Sequence[str]) -> list[Comparison]:
    """Every pair of finished configurations (Table-1 rows) that differ in one swept key."""
    finished = [g for g in groups if g[0].status == "finished"]
    found = (compare_pair(a, b, keys) for a, b in combinations(finished, 2))
    return [c for c in found if c is not None]


def seed_summaries(groups: Sequence[Sequence[Run]]) -> list[tuple[str, SeedSummary]]:
    """(label, mean test Dice over seeds with its t-interval) for rows with several seeds."""
    rows = []
    for group in groups:
        means = [float(r.test_dice.mean()) for r in group if r.test_dice is not None]
        if group[0].status == "finished" and len(means) > 1:
            rows.append((group[0].label, seed_interval(np.array(means), confidence=CONFIDENCE)))
    return rows


def _signed(value: float) -> str:
    return "±∞" if math.isinf(value) else f"{value:+.4f}"


def _sentence(c: Comparison) -> str:
    r = c.result
    where = f" ({c.shared})" if c.shared else ""
    ci = f"95% CI [{_signed(r.low)}, {_signed(r.high)}]"
    head = f"`{c.changed}={c.second}` vs `{c.changed}={c.first}`{where}: {_signed(r.mean)} Dice"
    if r.within_noise:
        return (
            f"{head}, **within noise**: the {ci} contains 0 "
            f"(Wilcoxon p = {r.p_value:.3g}, {r.n} images)."
        )
    better = c.second if r.mean > 0 else c.first
    return (
        f"{head}, **a real difference**: `{c.changed}={better}` is better; the {ci} excludes 0 "
        f"(Wilcoxon p = {r.p_value:.3g}, {r.n} images)."
    )


def comparison_markdown(found: Sequence[Comparison]) -> list[str]:
    """The report's "Which differences are real" section, table then plain sentences."""
    lines = [
        "## Which differences are real",
        "",
        "Pairs of configurations that differ in exactly one swept key, compared image by image "
        "on the same test images (a configuration's seeds are averaged per image first): "
        "Δ = mean per-image test Dice of the second minus the first, its 95% bootstrap "
        "confidence interval (BCa, 10,000 resamples of the images) and the Wilcoxon "
        "signed-rank p-value. A difference whose interval contains 0 is within noise.",
        "",
    ]
    if not found:
        return [*lines, "No two finished configurations differ in exactly one swept key.", ""]
    lines += [
        "| key | second vs first | other keys | images | Δ test Dice | 95% CI | Wilcoxon p "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in found:
        r = c.result
        lines.append(
            f"| {c.changed} | {c.second} vs {c.first} | {c.shared or '—'} | {r.n} "
            f"| {_signed(r.mean)} | [{_signed(r.low)}, {_signed(r.high)}] | {r.p_value:.3g} "
            f"| {c.verdict} |"
        )
    return [*lines, "", *(f"- {_sentence(c)}" for c in found), ""]


def seed_markdown(rows: Sequence[tuple[str, SeedSummary]]) -> list[str]:
    """Seed groups: mean ± std of test Dice over seeds and the t-interval of that mean."""
    lines = ["## Seeds", ""]
    if not rows:
        return [
            *lines,
            "No configuration was trained with several seeds, so the intervals above cover "
            "the test images only, not training noise (add e.g. `trainer.seed=0,1,2`).",
            "",
        ]
    lines += [
        "| configuration | seeds | test Dice mean ± std | 95% t-interval of the mean |",
        "|---|---|---|---|",
    ]
    for label, s in rows:
        lines.append(
            f"| {label} | {s.n} | {s.mean:.4f} ± {s.std:.4f} | [{s.low:.4f}, {s.high:.4f}] |"
        )
    return [*lines, ""]


COMPARISON_COLUMNS = [
    "key", "first", "second", "shared", "images", "diff_mean", "ci_low", "ci_high", "p_value",
    "within_noise",
]  # fmt: skip


def comparison_rows(found: Sequence[Comparison]) -> list[list[object]]:
    """``comparisons.csv`` / W&B table rows, full precision."""
    return [
        [
            c.changed,
            c.first,
            c.second,
            c.shared,
            c.result.n,
            c.result.mean,
            c.result.low,
            c.result.high,
            c.result.p_value,
            c.result.within_noise,
        ]
        for c in found
    ]


def write_comparisons_csv(path: Path, found: Sequence[Comparison]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COMPARISON_COLUMNS)
        writer.writerows(comparison_rows(found))
