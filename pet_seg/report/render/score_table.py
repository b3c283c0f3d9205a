"""The per-configuration scores beyond the main Dice: the first table of "Where a difference
comes from", without the columns no run recorded (HD95 unless ``test_scores.hd95=true``), which
one sentence names with what they need instead of a column of "—".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pet_seg.report.statistics.groups import Arm


def number(value: float, digits: int = 4) -> str:
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
    return number(value, {"hd95_px": 1, "val_threshold": 2}.get(column, 4))


def empty_columns(columns: list[str], rows: list[list[Any]]) -> list[str]:
    """Number columns with no finite value in any row."""
    return [
        name
        for i, name in enumerate(columns)
        if name not in ("configuration", "runs")
        and not any(isinstance(r[i], float | int) and math.isfinite(r[i]) for r in rows)
    ]


def score_markdown(columns: list[str], rows: list[list[Any]]) -> list[str]:
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
