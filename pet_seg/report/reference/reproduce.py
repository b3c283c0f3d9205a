"""The report laid out like the original, ours beside it: ``reproduce.md`` for a reproduction.

A sweep of ``experiment=reproduce`` labels each run with the report's own name (its
``reproduce`` config-group choice, e.g. ``unet-data-cosine``). From those runs this module
writes Table 1 with the report's values, ours and the difference; every claim of the report as a
row (claim, its number, ours, verdict; see ``pet_seg.report.reference.claims``); the report's 18
curve figures grouped per model (augmentation on vs off, cosine vs one-cycle); and the settings
in which our runs differ from the report's, so a demo-scale run is never mistaken for a
reproduction. The report's numbers come from ``reference.yaml`` next to this file, never from
code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra.utils import instantiate

from pet_seg.report.reference.claims import ClaimRow, Named
from pet_seg.report.render.plots import QUANTITIES, plot_curve
from pet_seg.report.render.tables import aggregate
from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import effective_value

REFERENCE = Path(__file__).with_name("reference.yaml")
NAME_KEY = "reproduce"  # the config group whose choice is the report's run name
FILE = "reproduce.md"
STATS = ("mean", "median", "std", "min", "max")


def load_reference(path: Path = REFERENCE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


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


def table1(reference: dict[str, Any], named: Named) -> str:
    """Metric rows × (report, ours, Δ) per model, as the report's Table 1 is laid out."""
    models = reference["models"]
    header = ["metric"] + [f"{m} {col}" for m in models for col in ("report", "ours", "Δ")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    devices = ", ".join(dict.fromkeys(s["table1"]["train_device"] for s in models.values()))
    rows = [(f"test Dice {stat}", f"test_dice_{stat}", ".4f", 1.0) for stat in STATS]
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
    return "\n".join(lines)


def recipe_of(reference: dict[str, Any], run: Run) -> list[tuple[str, float, str]]:
    """The report's settings for ``run``: (key, value, whose) — shared, then its model's own."""
    target = (run.config.get("model") or {}).get("_target_")
    settings = [(key, value, "") for key, value in reference["recipe"].items()]
    for model, spec in reference["models"].items():
        if spec["target"] == target:
            settings += [(key, value, f" for {model}") for key, value in spec["recipe"].items()]
    return settings


def deviations(reference: dict[str, Any], named: Named) -> list[str]:
    """``key = ours (report: theirs)`` for every recipe setting a run of ours does not share."""
    found: dict[str, None] = {}
    for run in (run for runs in named.values() for run in runs):
        for key, value, whose in recipe_of(reference, run):
            ours = effective_value(run, key)
            if _number(ours) != float(value):
                found[f"`{key}` = {ours} (report: {value:g}{whose})"] = None
        tested = 0 if run.test_dice is None else len(run.test_dice)
        if tested != reference["test_images"]:
            found[f"test images = {tested} (report: {reference['test_images']})"] = None
    return list(found)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def check_claims(reference: dict[str, Any], named: Named) -> list[ClaimRow]:
    return [instantiate(spec).check(named) for spec in reference["claims"]]


def claims_table(rows: Sequence[ClaimRow]) -> str:
    lines = ["| claim | the report | ours | verdict |", "|---|---|---|---|"]
    lines += [f"| {r.claim} | {r.reported} | {r.ours} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def curve_figures(reference: dict[str, Any], runs: Sequence[Run], out: Path) -> list[str]:
    """The report's curve figures, one file per (model, comparison, quantity); Markdown lines."""
    named = runs_by_name(runs, finished_only=False)
    quantities = {key: (stem, label, title) for key, stem, label, title in QUANTITIES}
    lines: list[str] = []
    for model, spec in reference["models"].items():
        lines += [f"### {model}", ""]
        for group, figure in spec["figures"].items():
            shown = [run for name in figure["runs"] for run in named.get(name, [])]
            lines += [f"#### {figure['title']}", ""]
            if not shown:
                lines += [f"No run of {', '.join(figure['runs'])}.", ""]
                continue
            for key in figure["quantities"]:
                stem, label, title = quantities[key]
                path = out / f"reproduce_{model.lower()}_{group}_{stem}.png"
                plot_curve(shown, key, label, path, f"{model}: {title}\n{figure['title']}")
                lines += [f"![{model} {group} {stem}]({path.name})", ""]
    return lines


def render(reference: dict[str, Any], runs: Sequence[Run], out: Path) -> str:
    named = runs_by_name(runs)
    differ = deviations(reference, named)
    status = [f"{name} ({len(rs)} run{'s' * (len(rs) > 1)})" for name, rs in named.items()]
    others = [f"{report_name(r)} ({r.status}: {r.note})" for r in runs if r.status != "finished"]
    lines = [
        "# The report, reproduced: its numbers beside ours",
        "",
        "Finished runs: " + (", ".join(status) or "none") + ".",
        "",
        *(["Not finished: " + "; ".join(others) + ".", ""] if others else []),
        "Settings that differ from the report's: " + ("; ".join(differ) or "none") + ".",
        "",
        "## Table 1: per-image test Dice, augmentation + one-cycle",
        "",
        "Ours: mean ± sample std over seeds where there are several; Δ = ours − report.",
        "",
        table1(reference, named),
        "",
        "## The report's claims, checked",
        "",
        "Paired over the same test images (each image's Dice averaged over seeds): mean "
        "difference, 95 % bootstrap CI, Wilcoxon signed-rank p. Supported = the whole interval "
        "favours the claim; within noise = it contains 0.",
        "",
        claims_table(check_claims(reference, named)),
        "",
        "## Curves, as the report groups them",
        "",
        *curve_figures(reference, runs, out),
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
