"""The report's "Where a difference comes from" section: scores per configuration beyond Dice,
Dice per group of images, per-group paired differences, the images two configurations disagree
on most, and per run a reliability diagram and Dice against the threshold.

Numbers come from ``pet_seg.report.statistics.groups`` (per-image columns of
``test_results.csv``) and each run's ``calibration.json``; pictures are redrawn from the best
checkpoints.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pet_seg.report.render.breakdown_figures import (
    plot_gallery,
    plot_reliability,
    plot_threshold_curves,
)
from pet_seg.report.render.samples import slug
from pet_seg.report.render.score_table import empty_columns, number, score_markdown, score_rows
from pet_seg.report.render.verdicts import signed
from pet_seg.report.runs.folder import Run
from pet_seg.report.statistics.groups import (
    MIN_IMAGES,
    Arm,
    PairBreakdown,
    breakdowns,
    group_means,
    group_order,
)

INTRO = (
    "Each configuration's test scores beyond the main Dice, and its Dice per group of test "
    "images: species and breed (from the split files), pet size (terciles of the pet's share of "
    "the picture) and picture size (terciles of the original pixel count). "
    "Both are scored at each picture's original size: *Dice, border don't-care* excludes the "
    "trimap's border class from prediction and truth; *Boundary IoU* (Cheng et al. 2021, as "
    "their reference code computes it) is the IoU of the two masks' boundaries, each mask minus "
    "its erosion by a 3×3 square applied max(1, round(2% of the diagonal)) times ({width}). "
    "*ECE* is the pixel-level expected calibration error over 20 probability bins; the "
    "*threshold* is the one validation picks among 0.05…0.95 (the tables above keep 0.5), and "
    f"*gain* how much it would change the row's test Dice. Groups under {MIN_IMAGES} images "
    "show “too few”. Seeds are averaged per image."
)


@dataclass
class Breakdowns:
    markdown: list[str]
    figures: list[Path] = field(default_factory=list)
    tables: dict[str, tuple[list[str], list[list[Any]]]] = field(default_factory=dict)


def group_tables(arms: Sequence[Arm]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Dimension → (columns, rows): configuration, then per group its mean Dice (NaN: too few)."""
    tables = {}
    for dimension in arms[0].groups if arms else ():
        means = [group_means(arm, dimension) for arm in arms]
        groups = group_order([g for m in means for g in m])
        rows = [
            [arm.label, *(m.get(g, (0, math.nan))[1] for g in groups)]
            for arm, m in zip(arms, means, strict=True)
        ]
        sizes = [max(m.get(g, (0, 0))[0] for m in means) for g in groups]
        tables[dimension] = (
            ["configuration", *(f"{g} (n={n})" for g, n in zip(groups, sizes, strict=True))],
            rows,
        )
    return tables


def _group_markdown(tables: dict[str, tuple[list[str], list[list[Any]]]]) -> list[str]:
    lines = []
    for dimension, (columns, rows) in tables.items():
        lines += [f"**Test Dice by {dimension}**", "", "| " + " | ".join(columns) + " |"]
        lines.append("|" + "---|" * len(columns))
        for label, *values in rows:
            cells = [number(v) if math.isfinite(v) else "too few" for v in values]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def difference_rows(pairs: Sequence[PairBreakdown]) -> tuple[list[str], list[list[Any]]]:
    columns = [
        "key",
        "second",
        "first",
        "shared",
        "dimension",
        "group",
        "images",
        "kind",
        "diff_mean",
        "ci_low",
        "ci_high",
        "p_value",
        "p_holm",
        "verdict",
    ]
    rows = []
    for p in pairs:
        for g in p.differences:
            r = g.result
            numbers = (
                [None] * 6
                if r is None
                else [r.kind, r.mean, r.low, r.high, r.p_value, r.p_adjusted]
            )
            verdict = "too few images" if r is None else r.verdict
            rows.append(
                [
                    p.changed,
                    p.values[1],
                    p.values[0],
                    p.shared,
                    g.dimension,
                    g.group,
                    g.images,
                    *numbers,
                    verdict,
                ]
            )
    return columns, rows


def _difference_markdown(pairs: Sequence[PairBreakdown]) -> list[str]:
    lines = []
    for p in pairs:
        where = f" ({p.shared})" if p.shared else ""
        lines += [
            f"**`{p.changed}={p.values[1]}` vs `{p.changed}={p.values[0]}`{where}**: Δ test "
            "Dice per group (second − first) with its 95% interval; p is Holm-adjusted over the "
            "groups of each dimension where the verdict is configuration-level (≥ 2 seeds per "
            "arm), raw (Wilcoxon) where it is image-level",
            "",
            "| dimension | group | images | Δ Dice | 95% CI | p | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for g in p.differences:
            r = g.result
            if r is None:
                lines.append(f"| {g.dimension} | {g.group} | {g.images} | too few | | | |")
                continue
            lines.append(
                f"| {g.dimension} | {g.group} | {g.images} | {signed(r.mean)} "
                f"| [{signed(r.low)}, {signed(r.high)}] | {r.p:.3g} | {r.verdict} |"
            )
        lines.append("")
    return lines


def _differences_or_what_they_need(pairs: Sequence[PairBreakdown]) -> list[str]:
    """Per-group difference tables of the pairs with >= 2 seeds per arm; the others in one
    sentence, since every verdict cell of theirs would read "training noise not measured"."""
    if not pairs:
        return ["No two finished configurations differ in exactly one swept key.", ""]
    tested = [p for p in pairs if min(len(p.first.runs), len(p.second.runs)) >= 2]
    lines = _difference_markdown(tested)
    if len(tested) < len(pairs):
        lines += [
            f"Per-group differences (Δ per species, breed, pet size, picture size) of "
            f"{len(pairs) - len(tested)} pair(s) are not shown: they need at least 2 seeds per "
            "arm to say more than that two trained models differ (the summary's command adds "
            "them); their image-level numbers are in `group_differences.csv`.",
            "",
        ]
    return lines


def write_breakdowns(
    groups: Sequence[Sequence[Run]], keys: Sequence[str], runs: Sequence[Run], out: Path
) -> Breakdowns:
    """The section's markdown lines, its figures (in ``out``) and its tables (for W&B)."""
    arms, pairs = breakdowns(groups, keys)
    result = Breakdowns(["## Where a difference comes from", ""])
    if not arms:
        result.markdown += ["No finished run has per-image test results.", ""]
        return result
    scores = score_rows(arms)
    empty = empty_columns(*scores)
    keep = [i for i, name in enumerate(scores[0]) if name not in empty]
    result.tables["scores"] = (
        [scores[0][i] for i in keep],
        [[r[i] for i in keep] for r in scores[1]],
    )
    result.tables |= {f"by {d}": t for d, t in group_tables(arms).items()}
    result.tables["group differences"] = difference_rows(pairs)
    _write_csv(out / "group_differences.csv", *result.tables["group differences"])
    result.markdown += [
        INTRO.format(width=_width_text(arms)),
        "",
        *score_markdown(*scores),
        "",
    ]
    result.markdown += _group_markdown(group_tables(arms))
    result.markdown += _differences_or_what_they_need(pairs)
    finished = [r for r in runs if r.status == "finished"]
    for figure in (
        plot_reliability(finished, out / "reliability.png"),
        plot_threshold_curves(finished, out / "threshold_dice.png"),
    ):
        if figure is not None:
            result.figures.append(figure)
    for pair in pairs:
        stem = slug(f"differs_most_{pair.changed}_{pair.shared}")
        try:
            result.figures.append(plot_gallery(pair, out / f"{stem}.png"))
        except Exception as err:  # a missing checkpoint must not sink the report
            result.markdown.append(
                f"- gallery skipped for {pair.changed}: {type(err).__name__}: {err}"
            )
    if result.markdown[-1].startswith("- gallery skipped"):
        result.markdown.append("")
    names = ", ".join(f"`{f.name}`" for f in result.figures)
    result.markdown += [f"Figures of this section (below): {names}.", ""] if names else []
    return result


def _write_csv(path: Path, columns: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)


def _width_text(arms: Sequence[Arm]) -> str:
    """The band width in words: its median over the test images (it scales with the picture)."""
    widths = [arm.scores["boundary_width_px"] for arm in arms if "boundary_width_px" in arm.scores]
    if not widths:
        return "width not recorded"
    median = np.nanmedian(np.concatenate([w.ravel() for w in widths]))
    return f"median {median:.0f} px here"
