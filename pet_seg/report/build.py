"""Assemble the report: read runs → label → tables → verdicts → figures → ``report.md``.

One function, ``write_report``, used by both the CLI and the Hydra callback, so a sweep's
automatic report and a hand-made one are the same file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pet_seg.report.reference.reproduce import write_reproduction
from pet_seg.report.render.adaptive import adaptive_section
from pet_seg.report.render.breakdowns import Breakdowns, write_breakdowns
from pet_seg.report.render.plots import plot_curves, plot_dice_distribution
from pet_seg.report.render.samples import sample_grids
from pet_seg.report.render.summary import Summary, summarize, summary_markdown, sweep_overrides
from pet_seg.report.render.tables import (
    markdown_table,
    runs_table,
    summary_mismatch,
    write_group_csv,
    write_runs_csv,
)
from pet_seg.report.render.verdicts import comparison_markdown, seeds_markdown
from pet_seg.report.runs.folder import STATUSES, Run, discover_runs
from pet_seg.report.runs.labels import assign_labels, common_overrides, group_runs
from pet_seg.report.statistics.comparisons import (
    TARGET_DIFFERENCE,
    Comparison,
    SeedAdvice,
    comparisons,
    seed_advice,
    seed_summaries,
    write_comparisons_csv,
)
from pet_seg.report.statistics.paired import SeedSummary
from pet_seg.training.conventions import PET_SEG

CONVENTION = (
    "Test statistics are recomputed from each run's `test_results.csv` (per-image Dice of the "
    "best-validation checkpoint, threshold 0.5). `std` is the population std over test images; "
    "`a ± b` is the mean ± sample std (ddof=1) over runs that differ only in `trainer.seed`."
)
SELECTED_BY = {
    "val/dice": "the mean of per-image validation Dice (pet_seg's convention)",
    "val/dice_per_batch": "validation Dice pooled per batch, the mean over batches (the report's)",
}


def convention_lines(runs: Sequence[Run]) -> list[str]:
    """One line per convention the runs used (``summary.json``'s ``conventions``), so a table
    computed the report's way is never read as one computed per image; runs before the
    conventions group existed used pet_seg's."""
    default = asdict(PET_SEG)
    used = {json.dumps(default | r.summary.get("conventions", {}), sort_keys=True) for r in runs}
    lines = []
    for entry in sorted(used):
        conventions = json.loads(entry)
        picked = SELECTED_BY[conventions["val_dice"]]
        epsilon = conventions["dice_epsilon"]
        empty = "**1** (no epsilon)" if epsilon is None else f"**0** (epsilon {epsilon:g})"
        lines.append(
            f"- Convention{'s' if len(used) > 1 else ''}: `best.pt` picked by {picked}; "
            f"Dice = 2|P∩G| / (|P|+|G|), an image with empty truth and prediction scores {empty}."
        )
    if len(used) > 1:
        lines.append("- **The runs used different conventions**: compare their rows with care.")
    return lines


class ReportError(ValueError):
    """Nothing to report on (no run folders under the given paths)."""


@dataclass
class Report:
    out_dir: Path
    markdown: Path
    csv: Path
    table: str
    runs: list[Run]
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    label_keys: list[str] = field(default_factory=list)  # the swept keys naming the rows
    comparisons: list[Comparison] = field(default_factory=list)
    seeds: list[tuple[str, SeedSummary]] = field(default_factory=list)
    advice: list[SeedAdvice] = field(default_factory=list)  # seeds a question needs
    breakdowns: Breakdowns = field(default_factory=lambda: Breakdowns([]))
    summary: Summary | None = None  # what was decided, and the command that decides the rest


def default_out_dir(paths: Sequence[Path]) -> Path:
    """``<folder>/report`` for one sweep or run folder; several folders need ``--out``."""
    if len(paths) != 1:
        raise ReportError("several folders given: choose where the report goes with --out DIR")
    return Path(paths[0]) / "report"


def _figure_section(figures: Sequence[Path], out_dir: Path) -> list[str]:
    lines = ["## Figures", ""]
    for path in figures:
        rel = path.relative_to(out_dir) if path.is_relative_to(out_dir) else path
        lines += [f"![{path.stem}]({rel.as_posix()})", ""]
    return lines


def sources_line(runs: Sequence[Run], sources: Sequence[Path]) -> str:
    """Where the runs came from, how many ended how, and what they all share, in one line."""
    counts = {s: sum(r.status == s for r in runs) for s in STATUSES}
    counts = {s: n for s, n in counts.items() if n}
    common = common_overrides(runs)
    return (
        "Sources: " + ", ".join(f"`{p}`" for p in sources)
        + f" · runs: {len(runs)} ({', '.join(f'{n} {s}' for s, n in counts.items())})"
        + " · shared overrides: " + (", ".join(f"`{o}`" for o in common) if common else "none")
    )  # fmt: skip


def render_markdown(report: Report, sources: Sequence[Path]) -> str:
    """The whole ``report.md``: sources, (seed-adaptive verdicts,) summary, Table 1, verdicts,
    breakdowns, runs, notes, figures."""
    lines = [
        "# pet_seg report",
        "",
        sources_line(report.runs, sources),
        "",
        *adaptive_section(sources),  # a seed-adaptive sweep's own verdicts come first
        *(summary_markdown(report.summary) if report.summary else []),
        "## Table 1: test Dice per image",
        "",
        CONVENTION,
        "",
        *convention_lines(report.runs),
        "",
        report.table,
        "",
        *comparison_markdown(report.comparisons),
        *seeds_markdown(report.seeds, report.advice, report.comparisons),
        *report.breakdowns.markdown,
        "## Runs",
        "",
        runs_table(report.runs),
        "",
    ]
    if report.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in report.notes), ""]
    return "\n".join(lines + _figure_section(report.figures, report.out_dir))


def write_report(
    paths: Sequence[Path | str],
    out_dir: Path | str | None = None,
    samples: int = 4,
    difference: float = TARGET_DIFFERENCE,
) -> Report:
    """Write ``report.md``, ``report.csv``, ``runs.csv``, ``comparisons.csv`` and PNG figures.

    ``paths`` are sweep folders, run folders, or any folder above them. ``samples`` is the
    number of test images in each run's sample grid (0 = no grids).
    """
    sources = [Path(p) for p in paths]
    runs = discover_runs(sources)
    if not runs:
        raise ReportError(f"no run folders (with .hydra/ or summary.json) under {sources}")
    out = Path(out_dir) if out_dir is not None else default_out_dir(sources)
    out.mkdir(parents=True, exist_ok=True)
    label_keys = assign_labels(runs)
    groups = group_runs(runs)
    report = Report(out, out / "report.md", out / "report.csv", markdown_table(groups), runs)
    report.label_keys = label_keys
    report.comparisons = comparisons(groups, label_keys)
    report.seeds = seed_summaries(groups)
    report.advice = seed_advice(report.comparisons, difference)
    overrides = sweep_overrides(sources, runs, label_keys)
    report.summary = summarize(report.comparisons, report.advice, runs, overrides, difference)
    write_group_csv(report.csv, groups, label_keys)
    write_runs_csv(out / "runs.csv", runs)
    write_comparisons_csv(out / "comparisons.csv", report.comparisons)
    report.notes += [f"{r.label}: {m}" for r in runs if (m := summary_mismatch(r))]
    report.figures += plot_curves(runs, out)
    distribution = plot_dice_distribution(runs, out / "test_dice_distribution.png")
    report.figures += [distribution] if distribution else []
    report.breakdowns = write_breakdowns(groups, label_keys, runs, out)
    report.figures += report.breakdowns.figures
    grids, notes = sample_grids(runs, out, samples)
    report.figures += grids
    report.notes += notes
    if (reproduction := write_reproduction(runs, out)) is not None:  # experiment=reproduce
        report.notes.append(f"the report's numbers beside ours: {reproduction.name}")
    report.markdown.write_text(render_markdown(report, sources) + "\n")
    return report
