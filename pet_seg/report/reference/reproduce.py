"""The report laid out like the original, ours beside it: ``reproduce.md`` for a reproduction.

A sweep of ``experiment=reproduce`` labels each run with the report's own name (its
``reproduce`` config-group choice, e.g. ``unet-data-cosine``). From those runs this module
writes every setting in which a run's resolved config differs from the report's
(``settings``); Table 1 with the report's values, ours and the difference, saying which average
each is; every claim of the report as a row (claim, its number, ours, p-values, verdict, rule;
``claims``, ``training_claims``); and the report's 18 curve figures grouped per model, in the
averages the runs acted on (``curves``). So a demo-scale run is never mistaken for a
reproduction. The report's numbers come from ``reference.yaml`` next to this file, never from
code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pet_seg.report.reference.claims import Named, check_claims, claims_table
from pet_seg.report.reference.curves import curve_figures
from pet_seg.report.reference.settings import (
    REFERENCE,
    deviation_lines,
    deviations,
    load_reference,
)
from pet_seg.report.render.tables import aggregate
from pet_seg.report.runs.folder import Run

NAME_KEY = "reproduce"  # the config group whose choice is the report's run name
FILE = "reproduce.md"
STATS = ("mean", "median", "std", "min", "max")


def report_name(run: Run) -> str | None:
    return run.choices.get(NAME_KEY)


def runs_by_name(runs: Sequence[Run], finished_only: bool = True) -> dict[str, list[Run]]:
    """The report's run name → our runs of it (seeds), labelled with that name."""
    named: dict[str, list[Run]] = {}
    for run in runs:
        name = report_name(run)
        if name is not None and (run.status == "finished" or not finished_only):
            named.setdefault(name, []).append(dataclasses.replace(run, label=name))
    return named


def _ours(values: tuple[dict, dict], key: str, fmt: str, scale: float) -> tuple[str, float | None]:
    mean, std = values[0].get(key), values[1].get(key)
    if mean is None:
        return "—", None
    text = format(mean * scale, fmt) + (f" ± {format(std * scale, fmt)}" if std else "")
    return text, mean * scale


def reference_values(spec: dict[str, Any]) -> dict[str, float]:
    """One model's Table-1 numbers keyed like ``tables.aggregate`` (training time in minutes)."""
    table = spec["table1"]
    values = {f"test_dice_{stat}": value for stat, value in table["test_dice"].items()}
    return values | {"train_time_s": table["train_minutes"]}


def _per_batch(runs: Sequence[Run]) -> str:
    """Our ``test/dice_per_batch`` (mean ± std over seeds), or why there is none."""
    values = [r.summary["test/dice_per_batch"] for r in runs if "test/dice_per_batch" in r.summary]
    if not values:
        return "not logged"
    spread = f" ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else ""
    return f"{np.mean(values):.4f}{spread}"


def table1(reference: dict[str, Any], named: Named) -> str:
    """Metric rows × (report, ours, Δ) per model, as the report's Table 1 is laid out; then our
    test Dice pooled per batch, the average the report's training script printed."""
    models = reference["models"]
    header = ["metric"] + [f"{m} {col}" for m in models for col in ("report", "ours", "Δ")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    devices = ", ".join(dict.fromkeys(s["table1"]["train_device"] for s in models.values()))
    rows = [(f"test Dice {stat}, per image", f"test_dice_{stat}", ".4f", 1.0) for stat in STATS]
    rows.append((f"training time, min (report: {devices})", "train_time_s", ".3g", 1 / 60))
    for title, key, fmt, scale in rows:
        cells = [title]
        for spec in models.values():
            runs = named.get(spec["table1"]["run"], [])
            ref = reference_values(spec)[key]
            text, ours = _ours(aggregate(runs), key, fmt, scale) if runs else ("no run", None)
            delta = "—" if ours is None else format(ours - ref, "+" + fmt)
            cells += [format(ref, fmt), text, delta]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["test Dice mean, pooled per batch (`test/dice_per_batch`)"]
    for spec in models.values():
        runs = named.get(spec["table1"]["run"], [])
        cells += ["not in Table 1", _per_batch(runs) if runs else "no run", "—"]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


AVERAGES = (
    "Which average each number is: the report's Table 1 and our `per image` rows are the mean "
    "(median, …) over test images of each image's Dice, the report's evaluation; our last row, "
    "`test/dice_per_batch`, pools the pixels of each test batch at the run's batch size and "
    "averages over batches, as the report's training script printed its test Dice (the report "
    "gives no such number). Dice of an image with empty truth and prediction follows the runs' "
    "`conventions.dice_epsilon`. Ours: mean ± sample std over seeds where there are several; "
    "Δ = ours − report."
)
CLAIMS = (
    "Run-vs-run claims are tested as configurations (DESIGN.md §5): each run name's seeds × "
    "test images of per-image Dice, seeds and images both counted as noise (t interval, "
    "Satterthwaite df), p-values Holm-adjusted over these claims. Supported = real after "
    "adjustment in the claimed direction (95 % CI wholly above 0); contradicted = real the other "
    "way; within noise otherwise. With one seed of a run the verdict is *not testable with one "
    "seed*, and the numbers shown are image-level only (paired bootstrap CI, Wilcoxon p): they "
    "say nothing about another training run."
)


def render(reference: dict[str, Any], runs: Sequence[Run], out: Path) -> str:
    named = runs_by_name(runs)
    status = [f"{name} ({len(rs)} run{'s' * (len(rs) > 1)})" for name, rs in named.items()]
    others = [f"{report_name(r)} ({r.status}: {r.note})" for r in runs if r.status != "finished"]
    lines = [
        "# The report, reproduced: its numbers beside ours",
        "",
        "Finished runs: " + (", ".join(status) or "none") + ".",
        "",
        *(["Not finished: " + "; ".join(others) + ".", ""] if others else []),
        "## Settings that differ from the report's",
        "",
        "Each run's resolved config against the report's settings for its run name "
        "(`pet_seg/report/reference/reference.yaml`).",
        "",
        *deviation_lines(deviations(reference, named), list(named)),
        "",
        "## Table 1: test Dice, augmentation + one-cycle",
        "",
        AVERAGES,
        "",
        table1(reference, named),
        "",
        "## The report's claims, checked",
        "",
        CLAIMS,
        "",
        claims_table(check_claims(reference["claims"], named)),
        "",
        "## Curves, as the report groups them",
        "",
        *curve_figures(reference, runs_by_name(runs, finished_only=False), out),
    ]
    return "\n".join(lines)


def write_reproduction(runs: Sequence[Run], out: Path, reference: Path = REFERENCE) -> Path | None:
    """Write ``<out>/reproduce.md`` (and its figures) if the runs are the report's; else None."""
    if not any(report_name(run) for run in runs):
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE
    path.write_text(render(load_reference(reference), runs, out) + "\n")
    return path
