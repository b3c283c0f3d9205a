"""``<sweep>/adaptive.json``: what a seed-adaptive sweep decided, round by round.

Written by the sweeper after every round (atomically), read by the report
(``pet_seg.report.render.adaptive``) and the W&B report run; it imports nothing of the
statistics, so the report can read it. It is a record, not the state: the run folders are the
state, and a rerun rebuilds the same decisions from them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pet_seg.run_folder import write_json_atomic

LEDGER = "adaptive.json"


@dataclass
class ComparisonRecord:
    """One comparison: Δ = second - first on ``changed``, its decision and when it was made."""

    changed: str
    first: str
    second: str
    shared: str
    decision: str  # real | equivalent | undecided | open
    round: int | None  # the round that settled it (None while open)
    seeds: int  # seeds per arm it was decided on
    mean: float | None
    low: float | None
    high: float | None

    @property
    def could_hide(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return max(abs(self.low), abs(self.high))


@dataclass
class Ledger:
    """The design, the configurations (overrides), the comparisons, rounds and runs used."""

    design: dict[str, Any]
    configurations: list[list[str]]
    comparisons: list[ComparisonRecord] = field(default_factory=list)
    rounds: int = 0
    runs: int = 0  # finished runs the decisions used
    fixed_runs: int = 0  # every configuration at the cap: the fixed design it replaces
    seeds: list[int] = field(default_factory=list)  # per configuration

    @property
    def saved(self) -> int:
        return self.fixed_runs - self.runs


def write_ledger(sweep: Path, ledger: Ledger) -> None:
    write_json_atomic(sweep / LEDGER, asdict(ledger))


def read_ledger(sweep: Path) -> Ledger | None:
    """The sweep's ledger, or None when it was no seed-adaptive sweep (or the file is broken)."""
    path = Path(sweep) / LEDGER
    try:
        raw = json.loads(path.read_text())
        comparisons = [ComparisonRecord(**c) for c in raw.pop("comparisons")]
        return Ledger(**raw, comparisons=comparisons)
    except (OSError, ValueError, TypeError, KeyError):
        return None
