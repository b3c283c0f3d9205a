"""The report's claims about training rather than test Dice: overfitting and training time.

Same shape as ``claims.BetterTestDice`` (a ``check(named)`` that returns a ``ClaimRow``), built
from ``reference.yaml`` by ``claims.check_claims``; neither is a test of per-image Dice, so
neither enters the Holm family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pet_seg.report.reference.claims import ClaimRow, Named, missing_runs, not_tested
from pet_seg.report.reference.settings import deviations, load_reference
from pet_seg.report.runs.folder import Run


def loss_key(run: Run) -> str:
    """The validation loss the run acts on: ``val/loss_per_batch`` under the reference's."""
    return str((run.config.get("conventions") or {}).get("val_loss", "val/loss"))


def loss_minimum(run: Run) -> tuple[int, float] | None:
    """(epoch of the lowest validation loss, how far the last epoch's loss is above it)."""
    key = loss_key(run)
    losses = [(int(r["epoch"]), r.get(key)) for r in run.epochs]
    losses = [(epoch, float(loss)) for epoch, loss in losses if isinstance(loss, int | float)]
    if not losses:
        return None
    epoch, lowest = min(losses, key=lambda pair: pair[1])
    return epoch, losses[-1][1] - lowest


def _epochs(minima: Sequence[tuple[int, float]]) -> str:
    """``23``, or ``23, 25, 27 (mean 25.0)`` over seeds."""
    epochs = [m[0] for m in minima]
    if len(epochs) == 1:
        return str(epochs[0])
    return f"{', '.join(map(str, epochs))} (mean {np.mean(epochs):.1f})"


def _length(runs: Sequence[Run]) -> int:
    return max(int(r.epochs[-1]["epoch"]) for r in runs if r.epochs)


@dataclass(frozen=True)
class ValidationLossRises:
    """Without augmentation (``run``) the validation loss rises after about ``reported_epoch``,
    while with it (``contrast``) it does not: the claim is the difference, so it needs both.

    Rule: every seed of ``run`` has its minimum within ``tolerance`` epochs of the report's and
    ends above it; every seed of ``contrast`` has its minimum in the last ``tolerance`` epochs.
    Epochs only compare between runs of the report's length (``report_epochs``).
    """

    claim: str
    run: str
    contrast: str
    reported_epoch: int
    report_epochs: int
    tolerance: int = 5  # epochs either side of the report's that still count as "about"

    @property
    def rule(self) -> str:
        return (
            f"needs both: {self.run}'s minimum within ±{self.tolerance} epochs of "
            f"{self.reported_epoch} and its loss ending above it; {self.contrast}'s minimum in "
            f"its last {self.tolerance} epochs"
        )

    def check(self, named: Named) -> ClaimRow:
        reported = (
            f"minimum near epoch {self.reported_epoch} of {self.report_epochs}; the augmented "
            "run's loss does not rise"
        )
        missing = missing_runs(named, self.run, self.contrast)
        rises = [m for m in map(loss_minimum, named.get(self.run, [])) if m is not None]
        flat = [m for m in map(loss_minimum, named.get(self.contrast, [])) if m is not None]
        if missing or not rises or not flat:
            why = missing or ["with a validation loss"]
            return not_tested(self.claim, reported, why, self.rule)
        length = _length(named[self.run])
        key = loss_key(named[self.run][0])
        rise = float(np.mean([m[1] for m in rises]))
        contrast_length = _length(named[self.contrast])
        ours = (
            f"`{key}`: minimum at epoch {_epochs(rises)} of {length}, then {rise:+.4f} by the "
            f"end; {self.contrast}: minimum at epoch {_epochs(flat)} of {contrast_length}"
        )
        return ClaimRow(self.claim, reported, ours, self._verdict(rises, flat, length), self.rule)

    def _verdict(self, rises: list, flat: list, length: int) -> str:
        if length != self.report_epochs:
            return f"not comparable ({length} epochs, the report's {self.report_epochs})"
        near = all(abs(m[0] - self.reported_epoch) <= self.tolerance for m in rises)
        rose = all(m[1] > 0 for m in rises)
        steady = all(m[0] > length - self.tolerance for m in flat)
        if near and rose and steady:
            return "supported"
        if not rose:
            return "contradicted (no rise without augmentation)"
        if not steady:
            return "not supported (the augmented run's loss rises too)"
        return f"rises, but not near epoch {self.reported_epoch}"


@dataclass(frozen=True)
class FasterTraining:
    """``faster`` trains in ``reported_fraction`` less time than ``slower`` (about).

    Measured training time (``summary["train_time_s"]``, validation included, mean over seeds)
    of both runs, which only compares on one device and at the report's settings: runs that
    recorded different devices, or differ from the report in anything but the conventions
    (model width, batch, epochs, images, …), are not comparable. Supported within
    ``tolerance`` (absolute) of the report's fraction.
    """

    claim: str
    faster: str
    slower: str
    reported: str
    reported_fraction: float
    tolerance: float = 0.10

    @property
    def rule(self) -> str:
        return (
            f"1 − time({self.faster}) / time({self.slower}) within ±{self.tolerance:.0%} of "
            f"{self.reported_fraction:.0%}, on one device"
        )

    def check(self, named: Named) -> ClaimRow:
        missing = missing_runs(named, self.faster, self.slower)
        runs = [*named.get(self.faster, []), *named.get(self.slower, [])]
        if missing or any("train_time_s" not in r.summary for r in runs):
            why = missing or ["with train_time_s"]
            return not_tested(self.claim, self.reported, why, self.rule)
        fast, slow = (
            float(np.mean([r.summary["train_time_s"] for r in named[name]]))
            for name in (self.faster, self.slower)
        )
        saved = 1.0 - fast / slow
        devices = sorted({str(r.summary.get("device", "not recorded")) for r in runs})
        less = f"{saved:.0%} less time" if saved >= 0 else f"{-saved:.0%} more time"
        ours = f"{fast / 60:.3g} vs {slow / 60:.3g} min: {less} (device: {', '.join(devices)})"
        differ = self._differing_settings(named)
        if len(devices) > 1:
            verdict = "not comparable (different devices)"
        elif differ:
            verdict = f"not comparable (settings differ from the report's: {', '.join(differ)})"
        elif saved <= 0:
            verdict = "contradicted (not faster)"
        elif abs(saved - self.reported_fraction) <= self.tolerance:
            verdict = "supported"
        else:
            verdict = f"faster, by {saved:.0%} rather than {self.reported_fraction:.0%}"
        return ClaimRow(self.claim, self.reported, ours, verdict, self.rule)

    def _differing_settings(self, named: Named) -> list[str]:
        """Settings of the two runs that change the work done: all but the conventions."""
        both = {name: named[name] for name in (self.faster, self.slower)}
        found = deviations(load_reference(), both)
        skip = ("conventions.", "augmentation.jitter_masks", "seeds")
        return list(dict.fromkeys(d.key for d in found if not d.key.startswith(skip)))
