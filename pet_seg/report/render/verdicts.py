"""The verdicts in words: ``report.md``'s "Which differences hold up", "Seeds" and "How many
seeds a question needs", from ``pet_seg.report.statistics.comparisons``.

One-seed pairs are left to the summary (``pet_seg.report.render.summary``), which words each as
what it is — the difference between two trained models on these test images — and gives the
command that would make them verdicts, and its cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pet_seg.report.statistics.comparisons import (
    SEEDS_FOR_A_VERDICT,
    Comparison,
    SeedAdvice,
)
from pet_seg.report.statistics.paired import SeedSummary
from pet_seg.report.statistics.verdicts import CONFIGURATION, ONE_MODEL


def signed(value: float) -> str:
    """A difference as the report writes it: sign, four decimals, ±∞ for an open bound."""
    return "±∞" if math.isinf(value) else f"{value:+.4f}"


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def minutes(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


INTRO = (
    "Pairs of configurations that differ in exactly one swept key. A verdict is about the "
    "configurations, not about one trained model each: it counts which seed trained each model "
    "and which images were tested (paired: every run scored the same images). Δ = mean test "
    "Dice of the second minus the first, its 95% interval (Student-t, Welch–Satterthwaite "
    "degrees of freedom over the seed and image variance components) and p-value; p (Holm) "
    "adjusts the {m} configuration-level comparisons of this report together. A difference is "
    "*real* when the Holm-adjusted p is below 0.05. It needs at least 2 seeds per arm."
)


def _configuration_rows(found: Sequence[Comparison]) -> list[str]:
    lines = [
        "| key | second vs first | other keys | seeds | images | Δ test Dice | 95% CI | p "
        "| p (Holm) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in found:
        r = c.result
        lines.append(
            f"| {c.changed} | {c.second} vs {c.first} | {c.shared or '—'} "
            f"| {r.seeds[1]} vs {r.seeds[0]} | {r.images} | {signed(r.mean)} "
            f"| [{signed(r.low)}, {signed(r.high)}] | {_p(r.p_value)} | {_p(r.p_adjusted)} "
            f"| {c.verdict} |"
        )
    return lines


def comparison_markdown(found: Sequence[Comparison]) -> list[str]:
    """The report's "Which differences hold up" section: the configuration-level verdicts; the
    one-seed pairs in one sentence (the summary lists each with its image-level Δ)."""
    tested = [c for c in found if c.result.kind == CONFIGURATION]
    single = len(found) - len(tested)
    lines = ["## Which differences hold up", ""]
    if not found:
        return [*lines, "No two finished configurations differ in exactly one swept key.", ""]
    if tested:
        lines += [INTRO.format(m=len(tested)), "", *_configuration_rows(tested), ""]
    if single:
        lines += [
            f"{single} pair(s) have one seed in an arm: their Δ is between two trained models, "
            f"not between configurations ({ONE_MODEL}), so they get no verdict. The summary "
            "lists each with its interval over the test images and the command that turns them "
            "into verdicts; `comparisons.csv` has every column.",
            "",
        ]
    return lines


def advice_markdown(advice: Sequence[SeedAdvice], found: Sequence[Comparison]) -> list[str]:
    """ "How many seeds a question needs": detectable Δ now, seeds and minutes for a target."""
    lines = ["## How many seeds a question needs", ""]
    if not advice:
        reason = (
            "Every configuration here was trained with one seed, so the seed-to-seed spread is "
            "unknown: a verdict needs at least 2 (better 3) seeds per arm (see above)."
            if found
            else "No configuration-level comparison to size."
        )
        return [*lines, reason, ""]
    target = advice[0].target
    lines += [
        "From the seed-to-seed spread and the image variance this sweep measured: the smallest "
        "difference it could detect with 80% power (α = 0.05, two-sided), and the seeds per "
        f"arm a difference of {target:g} Dice would need, with their cost at the measured "
        "training time per run.",
        "",
        "| comparison | seeds per arm | seed SD | detectable Δ now | seeds per arm for "
        f"Δ = {target:g} | more runs | ≈ minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in advice:
        c = a.comparison
        needed = "more seeds cannot: too few test images" if a.needed is None else str(a.needed)
        more = "—" if a.extra_runs is None else str(a.extra_runs)
        detect = "—" if a.detectable is None else f"{a.detectable:.4f}"
        lines.append(
            f"| {c.changed}: {c.second} vs {c.first} | {a.seeds} | {c.result.seed_sd:.4f} "
            f"| {detect} | {needed} | {more} | {minutes(a.minutes)} |"
        )
    return [*lines, ""]


def seeds_markdown(
    rows: Sequence[tuple[str, SeedSummary]], advice: Sequence[SeedAdvice],
    found: Sequence[Comparison],
) -> list[str]:  # fmt: skip
    """ "Seeds" and "How many seeds a question needs", or one sentence when neither can say
    anything (every configuration trained with one seed)."""
    if rows or advice:
        return [*seed_markdown(rows), *advice_markdown(advice, found)]
    return [
        "## Seeds",
        "",
        "Every configuration was trained with one seed: the seed-to-seed spread, and so the "
        f"seeds a question needs, are unknown until each has at least 2 ({SEEDS_FOR_A_VERDICT} "
        "give a usable interval; the summary's command adds them).",
        "",
    ]


def seed_markdown(rows: Sequence[tuple[str, SeedSummary]]) -> list[str]:
    """Seed groups: mean ± std of test Dice over seeds and the t-interval of that mean."""
    lines = ["## Seeds", ""]
    if not rows:
        return [
            *lines,
            "No configuration was trained with several seeds: every number above is one "
            "trained model (add e.g. `trainer.seed=0,1,2`).",
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
