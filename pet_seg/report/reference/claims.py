"""The report's claims, each checked against our runs: the claim, its number, ours, a verdict.

``reference.yaml`` lists the claims as ``_target_`` + arguments and ``hydra.utils.instantiate``
builds them, so a new claim of an existing kind is a YAML entry and a new kind is one class with
a ``check(named)`` method. ``named`` maps the report's run names to our finished runs of that
name (several when the sweep had seeds).

A run-vs-run claim is a claim about two *configurations*, so it follows the toolkit's
configuration-level rule (DESIGN.md §5, ``pet_seg.report.statistics.verdicts``): each run name
gives a (seeds × images) matrix of per-image test Dice on the same images, and
``compare_configurations`` counts both seeds and images as noise. The claims' p-values are
Holm-adjusted together (:func:`check_claims`). A claim is *supported* when the difference is
real after adjustment in the claimed direction (its 95 % CI then lies wholly above 0),
*contradicted* when it is real the other way, *within noise* otherwise; with one seed in an arm
it is *not testable with one seed*, and the image-level numbers are shown for what they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from hydra.utils import instantiate

from pet_seg.report.runs.folder import Run
from pet_seg.report.statistics.verdicts import (
    CONFIGURATION,
    ConfigurationDifference,
    adjust_holm,
    compare_configurations,
)

Named = Mapping[str, Sequence[Run]]
ONE_SEED = "not testable with one seed"
DASH = "—"


@dataclass(frozen=True)
class ClaimRow:
    claim: str
    reported: str
    ours: str
    verdict: str
    rule: str = ""
    p_raw: str = DASH
    p_holm: str = DASH


def missing_runs(named: Named, *names: str | None) -> list[str]:
    return [name for name in names if name is not None and not named.get(name)]


def not_tested(claim: str, reported: str, missing: list[str], rule: str = "") -> ClaimRow:
    return ClaimRow(claim, reported, f"no finished run {', '.join(missing)}", "not tested", rule)


def dice_matrices(a: Sequence[Run], b: Sequence[Run]) -> tuple[np.ndarray, np.ndarray, int]:
    """(seeds × images) test Dice of both run names on the images every seed of both scored."""
    scored = [r for r in (*a, *b) if r.test_dice is not None]
    common = set.intersection(*(set(r.test_names) for r in scored)) if scored else set()
    images = sorted(common)

    def matrix(runs: Sequence[Run]) -> np.ndarray:
        rows = [dict(zip(r.test_names, r.test_dice, strict=True)) for r in runs]
        return np.array([[row[name] for name in images] for row in rows if row])

    return matrix(a), matrix(b), len(images)


def describe(diff: ConfigurationDifference, better: float, worse: float) -> str:
    """Our numbers for a run-vs-run claim, saying which noise the interval counts."""
    counted = "seeds and images" if diff.kind == CONFIGURATION else "images only"
    return (
        f"{better:.4f} vs {worse:.4f}: Δ {diff.mean:+.4f}, 95 % CI [{diff.low:+.4f}, "
        f"{diff.high:+.4f}] ({counted}; {diff.seeds[1]} vs {diff.seeds[0]} seeds, "
        f"{diff.images} images)"
    )


def verdict_of(diff: ConfigurationDifference) -> str:
    if diff.kind != CONFIGURATION:
        return ONE_SEED
    if not diff.real:
        return "within noise"
    return "supported" if diff.mean > 0 else "contradicted"


@dataclass(frozen=True)
class BetterTestDice:
    """``better`` has a higher per-image test Dice than ``worse``, as configurations."""

    claim: str
    better: str
    worse: str
    reported: str
    rule: str = (
        "configuration level (≥ 2 seeds each): supported if Δ is real after Holm (95 % CI above 0)"
    )

    def difference(self, named: Named) -> ConfigurationDifference | None:
        """better − worse, or None when a run or common test images are missing."""
        if missing_runs(named, self.better, self.worse):
            return None
        worse, better, images = dice_matrices(named[self.worse], named[self.better])
        if not images or not len(worse) or not len(better):
            return None
        return compare_configurations(worse, better)

    def check(self, named: Named, difference: ConfigurationDifference | None = None) -> ClaimRow:
        """The row; ``difference`` is this claim's Holm-adjusted result when checked in a family."""
        missing = missing_runs(named, self.better, self.worse)
        diff = difference or self.difference(named)
        if missing or diff is None:
            why = missing or ["scored on the same test images"]
            return not_tested(self.claim, self.reported, why, self.rule)
        worse, better, _ = dice_matrices(named[self.worse], named[self.better])
        test = "t" if diff.kind == CONFIGURATION else "Wilcoxon, images only"
        holm = DASH if diff.p_adjusted is None else f"{diff.p_adjusted:.2g}"
        return ClaimRow(
            self.claim, self.reported, describe(diff, better.mean(), worse.mean()),
            verdict_of(diff), self.rule, f"{diff.p_value:.2g} ({test})", holm,
        )  # fmt: skip


def check_claims(specs: Sequence[Mapping], named: Named) -> list[ClaimRow]:
    """Every claim's row; the run-vs-run claims' p-values Holm-adjusted as one family."""
    claims = [instantiate(spec) for spec in specs]
    differences = [getattr(c, "difference", lambda _: None)(named) for c in claims]
    tested = [i for i, d in enumerate(differences) if d is not None]
    adjusted = adjust_holm([differences[i] for i in tested])
    for i, diff in zip(tested, adjusted, strict=True):
        differences[i] = diff
    return [
        c.check(named, d) if d is not None else c.check(named)
        for c, d in zip(claims, differences, strict=True)
    ]


def claims_table(rows: Sequence[ClaimRow]) -> str:
    header = "| claim | the report | ours | p (raw) | p (Holm) | verdict | rule |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    lines += [
        f"| {r.claim} | {r.reported} | {r.ours} | {r.p_raw} | {r.p_holm} | {r.verdict} | {r.rule} |"
        for r in rows
    ]
    return "\n".join(lines)
