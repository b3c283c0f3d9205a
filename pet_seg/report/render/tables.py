"""Table 1 of the study, per run (or per seed group): Markdown for people, CSV for pandas.

The test statistics are recomputed from each run's ``test_results.csv`` with
``pet_seg.metrics.summarize`` rather than copied from ``summary.json``, so the table always
matches the per-image results it claims to summarise. Other columns come from ``summary.json``,
or from ``metrics.jsonl`` for a run that died before writing them.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pet_seg.metrics import summarize
from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import effective_value

# Agreement expected between summary.json and the 6-decimal test_results.csv.
SUMMARY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Column:
    key: str  # CSV column name
    header: str  # Markdown header
    fmt: Callable[[float], str]
    exact: bool = False  # a count: one value when all seeds agree, never "± 0"


def _params(value: float) -> str:
    return f"{value / 1e6:.2f} M" if value >= 1e5 else f"{value / 1e3:.1f} k"


COLUMNS = (
    Column("test_dice_mean", "test Dice mean", "{:.4f}".format),
    Column("test_dice_median", "median", "{:.4f}".format),
    Column("test_dice_std", "std", "{:.4f}".format),
    Column("test_dice_min", "min", "{:.4f}".format),
    Column("test_dice_max", "max", "{:.4f}".format),
    Column("best_val_dice", "best val Dice", "{:.4f}".format),
    Column("epochs", "epochs", "{:.0f}".format, exact=True),
    Column("steps", "steps", "{:.0f}".format, exact=True),  # optimizer steps: batch size matters
    Column("train_time_s", "train time (s)", "{:.1f}".format),
    Column("train_images_per_s", "images/s", "{:.1f}".format),
    Column("params", "params", _params, exact=True),
)


# Table column → summary.json key; metrics.jsonl fills in for runs that died before the summary.
SUMMARY_KEYS = {
    "best_val_dice": "best/val_dice",
    "epochs": "epochs",
    "steps": "steps",
    "train_time_s": "train_time_s",
    "train_images_per_s": "train_images_per_s",
    "params": "params",
}


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def run_values(run: Run) -> dict[str, float | None]:
    """One run's Table-1 numbers (None where the run has no value)."""
    values: dict[str, float | None] = dict.fromkeys(c.key for c in COLUMNS)
    if run.test_dice is not None:
        for stat, value in summarize(run.test_dice).items():
            values[f"test_dice_{stat}"] = value
    val_dice = [_finite(r.get("val/dice")) for r in run.epochs]
    val_dice = [v for v in val_dice if v is not None]
    epoch_times = [_finite(r.get("time/epoch_s")) or 0.0 for r in run.epochs]
    speeds = [v for v in (_finite(r.get("time/train_images_per_s")) for r in run.epochs) if v]
    fallback = {
        "best_val_dice": max(val_dice) if val_dice else None,
        "epochs": float(run.epochs[-1]["epoch"]) if run.epochs else None,
        "steps": _finite(run.epochs[-1].get("step")) if run.epochs else None,
        "train_time_s": sum(epoch_times) if run.epochs else None,
        "train_images_per_s": float(np.mean(speeds)) if speeds else None,
    }
    for key, summary_key in SUMMARY_KEYS.items():
        recorded = _finite(run.summary.get(summary_key))
        values[key] = recorded if recorded is not None else fallback.get(key)
    return values


def summary_mismatch(run: Run) -> str:
    """A warning if summary.json's test mean disagrees with test_results.csv, else ''."""
    recorded = _finite(run.summary.get("test/dice_mean"))
    if recorded is None or run.test_dice is None:
        return ""
    recomputed = float(run.test_dice.mean())
    if abs(recorded - recomputed) <= SUMMARY_TOLERANCE:
        return ""
    return f"summary.json test/dice_mean {recorded:.6f} ≠ {recomputed:.6f} from test_results.csv"


def aggregate(group: Sequence[Run]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Mean and sample std (ddof=1) over a seed group, per column; std None for one run."""
    per_run = [run_values(run) for run in group]
    means: dict[str, float | None] = {}
    stds: dict[str, float | None] = {}
    for column in COLUMNS:
        present = [v[column.key] for v in per_run if v[column.key] is not None]
        means[column.key] = float(np.mean(present)) if present else None
        stds[column.key] = float(np.std(present, ddof=1)) if len(present) > 1 else None
    return means, stds


def _cell(column: Column, mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    if std is None or (column.exact and std == 0):
        return column.fmt(mean)
    return f"{column.fmt(mean)} ± {column.fmt(std)}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(groups: Sequence[Sequence[Run]]) -> str:
    """Table 1 as a Markdown table: one row per run, or per seed group as mean ± std."""
    headers = ["run", "status", "runs", *(c.header for c in COLUMNS)]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for group in groups:
        means, stds = aggregate(group)
        cells = [_escape(group[0].label), group[0].status, str(len(group))]
        cells += [_cell(c, means[c.key], stds[c.key]) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_group_csv(path: Path, groups: Sequence[Sequence[Run]], label_keys: Sequence[str]) -> None:
    """``report.csv``: the Markdown table's rows with full precision and one column per key.

    ``<column>_seed_std`` holds the sample std over a seed group (empty for a single run).
    """
    header = ["label", *label_keys, "status", "runs", "seeds"]
    header += [c.key for c in COLUMNS] + [f"{c.key}_seed_std" for c in COLUMNS]
    header += ["folders", "note"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for group in groups:
            means, stds = aggregate(group)
            first = group[0]
            row: list[Any] = [first.label, *(effective_value(first, k) for k in label_keys)]
            row += [first.status, len(group), ";".join(str(r.seed) for r in group)]
            row += [_csv(means[c.key]) for c in COLUMNS] + [_csv(stds[c.key]) for c in COLUMNS]
            row += [
                ";".join(str(r.path) for r in group),
                "; ".join(r.note for r in group if r.note),
            ]
            writer.writerow(row)


def write_runs_csv(path: Path, runs: Sequence[Run]) -> None:
    """``runs.csv``: every run folder on its own line, whatever its status."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        header = ["label", "seed", "status", *(c.key for c in COLUMNS), "disk_bytes"]
        writer.writerow([*header, "folder", "note"])
        for run in runs:
            values = run_values(run)
            writer.writerow(
                [
                    run.label,
                    run.seed,
                    run.status,
                    *(_csv(values[c.key]) for c in COLUMNS),
                    _csv(_finite(run.summary.get("disk_bytes"))),
                    run.path,
                    run.note,
                ]
            )


def _csv(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) > 1 else repr(value)


def runs_table(runs: Sequence[Run]) -> str:
    """Markdown list of every run folder with its status, its size on disk (summary.json's
    ``disk_bytes``) and, for failures, the reason."""
    lines = ["| run | seed | status | disk | folder | note |", "|---|---|---|---|---|---|"]
    for run in runs:
        note = _escape(run.note or summary_mismatch(run))
        seed = "—" if run.seed is None else str(run.seed)
        size = _finite(run.summary.get("disk_bytes"))
        disk = "—" if size is None else f"{size / 1e6:.1f} MB"
        cells = [_escape(run.label), seed, run.status, disk, f"`{run.path}`", note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
