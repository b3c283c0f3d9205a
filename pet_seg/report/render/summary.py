"""The report's first words: which comparisons were decided, and the cheapest command that
decides the rest with its cost. ``report.md`` opens with it, the W&B report run logs it as a
table and the saved W&B Report shows it as its first block, all from ``summarize``.

Every comparison (``pet_seg.report.statistics.comparisons``) falls in one of four classes:

* *real*: configuration level (>= 2 seeds per arm), Holm-adjusted p below 0.05;
* *equivalent*: configuration level, its 95% interval inside ±``margin`` (the difference the
  report sizes seeds for): whichever is better, not by more than that;
* *within noise*: configuration level, neither of the above: undecided;
* *not testable*: one seed in an arm, so training noise is not measured: undecided.

The undecided ones are decided by more seeds of every configuration: as many as a verdict needs
(``SEEDS_FOR_A_VERDICT``) where an arm has one, as many as ``seed_advice`` says a difference of
``margin`` needs where the spread is known. The command repeats the sweep's own command line
(``multirun.yaml``'s overrides, else the swept values) with only the seeds it lacks.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pet_seg.report.render.verdicts import minutes, signed
from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import SEED_KEYS, common_overrides, effective_value
from pet_seg.report.statistics.comparisons import SEEDS_FOR_A_VERDICT, Comparison, SeedAdvice
from pet_seg.report.statistics.verdicts import CONFIGURATION

REAL, EQUIVALENT, WITHIN_NOISE, NOT_TESTABLE = "real", "equivalent", "within noise", "not testable"
CLASSES = (REAL, EQUIVALENT, WITHIN_NOISE, NOT_TESTABLE)
UNDECIDED = (WITHIN_NOISE, NOT_TESTABLE)
RUN = "python -m pet_seg.run -m"


def classify(c: Comparison, margin: float) -> str:
    """Which of the four classes ``c`` falls in (see the module docstring)."""
    r = c.result
    if r.kind != CONFIGURATION:
        return NOT_TESTABLE
    if r.real:
        return REAL
    return EQUIVALENT if -margin < r.low and r.high < margin else WITHIN_NOISE


@dataclass(frozen=True)
class NextStep:
    """The sweep's command with the seeds it lacks, and what it costs."""

    command: str
    new_seeds: list[int]
    extra_runs: int
    minutes_per_run: float | None
    undecidable: int = 0  # within noise, but more seeds cannot reach ``margin`` (too few images)

    @property
    def minutes(self) -> float | None:
        return None if self.minutes_per_run is None else self.extra_runs * self.minutes_per_run


@dataclass(frozen=True)
class Summary:
    classes: dict[str, list[Comparison]]
    margin: float
    next_step: NextStep | None = None

    @property
    def undecided(self) -> int:
        return sum(len(self.classes[k]) for k in UNDECIDED)


def sweep_overrides(sources: Sequence[Path], runs: Sequence[Run], keys: Sequence[str]) -> list[str]:
    """The sweep's command-line overrides without seeds: Hydra's ``multirun.yaml`` when one
    folder has it, else every swept key with its values and the overrides all runs share."""
    multirun = Path(sources[0]) / "multirun.yaml" if len(sources) == 1 else None
    if multirun is not None and multirun.is_file():
        saved = yaml.safe_load(multirun.read_text()) or {}
        task = saved.get("hydra", {}).get("overrides", {}).get("task") or []
        return [o for o in map(str, task) if o.split("=")[0].lstrip("+~") not in SEED_KEYS]
    swept = []
    for key in keys:
        values = list(dict.fromkeys(effective_value(r, key) for r in runs))
        swept.append(f"{key}={','.join(values)}")
    shared = [o for o in common_overrides(runs) if o.split("=")[0] not in SEED_KEYS]
    return [*shared, *swept]


def _seeds_wanted(undecided: Sequence[Comparison], advice: Sequence[SeedAdvice]) -> tuple[int, int]:
    """(seeds per arm that would decide the most, comparisons no number of seeds decides)."""
    needed = {id(a.comparison): a.needed for a in advice}
    wanted, hopeless = 0, 0
    for c in undecided:
        if c.result.kind != CONFIGURATION:
            wanted = max(wanted, SEEDS_FOR_A_VERDICT)
        elif (n := needed.get(id(c))) is None:
            hopeless += 1
        else:
            wanted = max(wanted, n)
    return wanted, hopeless


def next_step(
    undecided: Sequence[Comparison], advice: Sequence[SeedAdvice], runs: Sequence[Run],
    overrides: Sequence[str],
) -> NextStep | None:  # fmt: skip
    """The sweep again with only the seeds it lacks; None when nothing is left to decide."""
    wanted, hopeless = _seeds_wanted(undecided, advice)
    finished = [r for r in runs if r.status == "finished"]
    per_configuration: dict[str, int] = {}
    for run in finished:
        per_configuration[run.label] = per_configuration.get(run.label, 0) + 1
    have = min(per_configuration.values(), default=0)
    if not undecided or wanted <= have:
        return None if hopeless == 0 else NextStep("", [], 0, None, hopeless)
    used = {0 if r.seed is None else r.seed for r in finished}
    new = [s for s in range(wanted + len(used)) if s not in used][: wanted - have]
    per_run = [c.minutes_per_run for c in undecided if c.minutes_per_run is not None]
    command = " ".join(
        [RUN, *map(shlex.quote, overrides), "trainer.seed=" + ",".join(map(str, new))]
    )
    return NextStep(
        command, new, len(per_configuration) * len(new),
        sum(per_run) / len(per_run) if per_run else None, hopeless,
    )  # fmt: skip


def summarize(
    found: Sequence[Comparison], advice: Sequence[SeedAdvice], runs: Sequence[Run],
    overrides: Sequence[str], margin: float,
) -> Summary:  # fmt: skip
    """Classify every comparison and find the command that decides the undecided ones."""
    classes: dict[str, list[Comparison]] = {k: [] for k in CLASSES}
    for c in found:
        classes[classify(c, margin)].append(c)
    undecided = [c for k in UNDECIDED for c in classes[k]]
    return Summary(classes, margin, next_step(undecided, advice, runs, overrides))


def comparison_line(c: Comparison) -> str:
    """``scheduler`` onecycle vs cosine (model=unet): Δ +0.0114 [+0.0040, +0.0189]."""
    r = c.result
    where = f" ({c.shared})" if c.shared else ""
    p = f", p (Holm) {r.p:.3g}" if r.kind == CONFIGURATION else ""
    seeds = f", {r.seeds[1]} vs {r.seeds[0]} seeds"
    return (
        f"`{c.changed}` {c.second} vs {c.first}{where}: Δ {signed(r.mean)} "
        f"[{signed(r.low)}, {signed(r.high)}]{p}{seeds}"
    )


HEADINGS = {
    REAL: "**Real**",
    EQUIVALENT: "**Equivalent** (95% interval inside ±{margin:g})",
    WITHIN_NOISE: "**Within noise** (undecided)",
    NOT_TESTABLE: "**Not testable: one seed per arm** (Δ between two trained models, interval "
    "over test images only)",
}


def _next_step_lines(summary: Summary) -> list[str]:
    step = summary.next_step
    if summary.undecided == 0:
        return ["Every comparison is decided."] if any(summary.classes.values()) else []
    if step is None or not step.command:
        lines = []
    else:
        cost = (
            f", about {minutes(step.minutes)} minutes at the "
            f"{minutes(step.minutes_per_run)} min per run measured here"
            if step.minutes is not None and step.minutes_per_run is not None
            else ""
        )
        lines = [
            f"**To decide the {summary.undecided} undecided**: run the seeds they lack, "
            f"`{step.command}` ({step.extra_runs} more runs{cost}), then report on both "
            "sweeps together: `python -m pet_seg.report <this sweep> <the new sweep> --out "
            "<folder>`. `python -m pet_seg.plan` with the same overrides prices it before it "
            "runs; the adaptive sweeper (`hydra/sweeper=verdict`) adds seeds only until each "
            "comparison is decided."
        ]
    if step is not None and step.undecidable:
        lines.append(
            f"{step.undecidable} within-noise comparison(s) cannot be decided at ±"
            f"{summary.margin:g} by more seeds: the test images' own noise is larger; they "
            "need more test images."
        )
    return lines


def summary_markdown(summary: Summary) -> list[str]:
    """``## Summary``: one line per class, one per comparison, then the next command."""
    found = sum(len(v) for v in summary.classes.values())
    lines = ["## Summary", ""]
    if not found:
        return [*lines, "No two finished configurations differ in exactly one swept key.", ""]
    lines += [
        f"{found} comparison(s) of configurations differing in one swept key; Δ = mean test "
        "Dice of the second minus the first, [95% interval].",
        "",
    ]
    for name in CLASSES:
        members = summary.classes[name]
        heading = HEADINGS[name].format(margin=summary.margin)
        lines.append(f"- {heading}: {len(members) or 'none'}")
        lines += [f"  - {comparison_line(c)}" for c in members]
    return [*lines, "", *_next_step_lines(summary), ""]


SUMMARY_COLUMNS = [
    "class", "key", "second", "first", "shared", "seeds_first", "seeds_second", "diff_mean",
    "ci_low", "ci_high", "p_holm",
]  # fmt: skip


def summary_rows(summary: Summary) -> list[list[Any]]:
    """One row per comparison, class first, full precision (the W&B table)."""
    rows = []
    for name in CLASSES:
        for c in summary.classes[name]:
            r = c.result
            rows.append([name, c.changed, c.second, c.first, c.shared, *r.seeds, r.mean, r.low,
                         r.high, r.p_adjusted])  # fmt: skip
    return rows
