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


def _number(value: float, digits: int = 4) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _mean_over_seeds(arm: Arm, key: str) -> float:
    values = [c.get(key) for c in arm.calibration if isinstance(c.get(key), int | float)]
    return float(np.mean(values)) if values else float("nan")


def score_rows(arms: Sequence[Arm]) -> tuple[list[str], list[list[Any]]]:
    columns = [
        "configuration",
        "runs",
        "dice",
        "dice_trimap",
        "boundary_iou",
        "hd95_px",
        "ece",
        "val_threshold",
        "dice_at_threshold",
        "gain",
    ]
    rows = []
    for arm in arms:
        means = [
            float(np.nanmean(arm.scores[s])) if s in arm.scores else float("nan")
            for s in ("dice", "dice_trimap", "boundary_iou", "hd95_px")
        ]
        ece = float(
            np.mean([c["test"]["ece"] for c in arm.calibration if c.get("test")] or [np.nan])
        )
        rows.append(
            [
                arm.label,
                len(arm.runs),
                *means,
                ece,
                _mean_over_seeds(arm, "threshold"),
                _mean_over_seeds(arm, "test_dice_at_threshold"),
                _mean_over_seeds(arm, "tuning_gain"),
            ]
        )
    return columns, rows


SCORE_HEADERS = {
    "configuration": "configuration", "runs": "runs", "dice": "Dice",
    "dice_trimap": "Dice, border don't-care", "boundary_iou": "Boundary IoU",
    "hd95_px": "HD95 (px)", "ece": "ECE", "val_threshold": "threshold (val)",
    "dice_at_threshold": "test Dice there", "gain": "gain vs 0.5",
}  # fmt: skip
# what an all-empty score column needs, said once instead of a column of "—"
SCORE_NEEDS = {
    "hd95_px": "HD95 was not computed (`test_scores.hd95=true` computes it in training, "
    "`hd95=true` in `python -m pet_seg.evaluate`)",
    "dice_trimap": "the trimap-aware Dice needs the runs' trimaps",
}


def _score_cell(column: str, value: Any) -> str:
    if column in ("configuration", "runs"):
        return str(value)
    if column == "gain":
        return "—" if not math.isfinite(value) else f"{value:+.4f}"
    return _number(value, {"hd95_px": 1, "val_threshold": 2}.get(column, 4))


def empty_columns(columns: list[str], rows: list[list[Any]]) -> list[str]:
    """Number columns with no finite value in any row."""
    return [
        name
        for i, name in enumerate(columns)
        if name not in ("configuration", "runs")
        and not any(isinstance(r[i], float | int) and math.isfinite(r[i]) for r in rows)
    ]


def _score_markdown(columns: list[str], rows: list[list[Any]]) -> list[str]:
    """The scores table without its all-empty columns, and one sentence on what they need."""
    empty = empty_columns(columns, rows)
    keep = [i for i, name in enumerate(columns) if name not in empty]
    lines = [
        "| " + " | ".join(SCORE_HEADERS[columns[i]] for i in keep) + " |",
        "|" + "---|" * len(keep),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_score_cell(columns[i], row[i]) for i in keep) + " |")
    if empty:
        needs = [SCORE_NEEDS.get(name, f"{SCORE_HEADERS[name]}: not recorded") for name in empty]
        lines += ["", "Not shown: " + "; ".join(needs) + "."]
    return lines


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
            cells = [_number(v) if math.isfinite(v) else "too few" for v in values]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _signed(value: float) -> str:
    return "±∞" if math.isinf(value) else f"{value:+.4f}"


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
                f"| {g.dimension} | {g.group} | {g.images} | {_signed(r.mean)} "
                f"| [{_signed(r.low)}, {_signed(r.high)}] | {r.p:.3g} | {r.verdict} |"
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
        *_score_markdown(*scores),
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
