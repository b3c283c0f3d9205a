"""``report.md``'s "Seed-adaptive verdicts": what a ``hydra/sweeper=verdict`` sweep decided.

Read from the sweep's ``adaptive.json`` (``pet_seg.adaptive.ledger``); nothing for any other
sweep. Each comparison says at which round it was settled and why (real: its repeated
confidence interval excludes 0; equivalent: it lies inside ±delta; undecided: the seed cap was
reached, with the largest difference the interval still allows), and the section ends with the
runs used against the fixed design the sweep replaces (every configuration at the cap). The
fixed design with the adaptive design's power is that cap design: the simulations of
docs/verdict-sweeps.md give the fixed design at 8 seeds at least the adaptive design's power
at a true Δ of 0.02 and 0.01, and 7 seeds less.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pet_seg.adaptive.ledger import ComparisonRecord, Ledger, read_ledger

INTRO = (
    "This sweep trained {first} seeds of every configuration, then added one seed per round "
    "to each arm of the comparisons still open, up to {cap} (`hydra/sweeper=verdict`). Each "
    "decision comes from a repeated confidence interval (group-sequential, `{spending}` alpha "
    "spending over the looks, Bonferroni over the {comparisons} comparisons), so the chance of "
    "any wrong *real* or *equivalent* over all comparisons and rounds stays below {alpha:g}. "
    "Use these verdicts for this sweep: the table of differences above treats the seeds as "
    "fixed in advance, which after stopping early overstates what is known."
)


def _why(c: ComparisonRecord, ledger: Ledger) -> str:
    delta, cap = ledger.design["delta"], ledger.design["cap"]
    if c.decision == "real":
        better = c.second if (c.mean or 0) > 0 else c.first
        return f"real: the interval excludes 0 ({c.changed}={better} better)"
    if c.decision == "equivalent":
        return f"equivalent: the interval lies inside ±{delta:g}"
    if c.decision == "undecided":
        return f"cap of {cap} seeds reached: it could still hide a difference of {c.could_hide:.4f}"
    return "still open (the sweep was stopped before settling it)"


def _interval(c: ComparisonRecord) -> str:
    if c.low is None or c.high is None:
        return "—"
    return f"[{c.low:+.4f}, {c.high:+.4f}]"


def adaptive_markdown(ledger: Ledger | None) -> list[str]:
    """The section's lines (empty for a sweep without ``adaptive.json``)."""
    if ledger is None:
        return []
    lines = ["## Seed-adaptive verdicts", "", INTRO.format(**ledger.design), ""]
    lines += [
        "| key | second vs first | other keys | settled in round | seeds per arm | Δ test Dice "
        "| repeated CI | decision |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in ledger.comparisons:
        mean = "—" if c.mean is None else f"{c.mean:+.4f}"
        lines.append(
            f"| {c.changed} | {c.second} vs {c.first} | {c.shared or '—'} | {c.round or '—'} "
            f"| {c.seeds} | {mean} | {_interval(c)} | {_why(c, ledger)} |"
        )
    lines += ["", runs_line(ledger), ""]
    return lines


def runs_line(ledger: Ledger) -> str:
    cap = ledger.design["cap"]
    return (
        f"Runs: **{ledger.runs}** in {ledger.rounds} rounds (seeds per configuration: "
        f"{', '.join(map(str, ledger.seeds))}), against **{ledger.fixed_runs}** for the fixed "
        f"design with {cap} seeds per configuration: **{ledger.saved} saved**. In the simulations "
        "of docs/verdict-sweeps.md (cap 8, seed SD 0.014) the fixed design needs the cap to "
        "match the adaptive design's power."
    )


def adaptive_section(sources: Sequence[Path]) -> list[str]:
    """The section for the one source folder that holds ``adaptive.json``."""
    ledgers = [ledger for p in sources if (ledger := read_ledger(Path(p))) is not None]
    return adaptive_markdown(ledgers[0]) if len(ledgers) == 1 else []


def adaptive_counts(sweep: Path) -> dict[str, Any]:
    """The same counts for the W&B report run's summary (empty without ``adaptive.json``)."""
    ledger = read_ledger(sweep)
    if ledger is None:
        return {}
    counts = {f"adaptive/{kind}": sum(c.decision == kind for c in ledger.comparisons)
              for kind in ("real", "equivalent", "undecided", "open")}  # fmt: skip
    runs = {"rounds": ledger.rounds, "runs": ledger.runs, "fixed_runs": ledger.fixed_runs}
    return counts | {f"adaptive/{k}": v for k, v in (runs | {"saved": ledger.saved}).items()}
