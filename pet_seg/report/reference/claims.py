"""The report's claims, each checked against our runs: the claim, its number, ours, a verdict.

``reference.yaml`` lists the claims as ``_target_`` + arguments and ``hydra.utils.instantiate``
builds them, so a new claim of an existing kind is a YAML entry and a new kind is one class with
a ``check(named)`` method. ``named`` maps the report's run names to our finished runs of that
name (several when the sweep had seeds).

Two runs are compared image by image on the same test set: each image's Dice is averaged over a
run's seeds, then ``pet_seg.report.statistics.paired.paired_difference`` gives the mean
difference, its bootstrap confidence interval and a Wilcoxon p-value. A claim is *supported*
when the whole interval favours it, *contradicted* when the whole interval goes against it, and
*within noise* otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pet_seg.report.runs.folder import Run
from pet_seg.report.statistics.comparisons import per_image
from pet_seg.report.statistics.paired import paired_difference

Named = Mapping[str, Sequence[Run]]


@dataclass(frozen=True)
class ClaimRow:
    claim: str
    reported: str
    ours: str
    verdict: str


def missing_runs(named: Named, *names: str | None) -> list[str]:
    return [name for name in names if name is not None and not named.get(name)]


def not_tested(claim: str, reported: str, missing: list[str]) -> ClaimRow:
    return ClaimRow(claim, reported, f"no finished run {', '.join(missing)}", "not tested")


@dataclass(frozen=True)
class BetterTestDice:
    """``better`` has a higher per-image test Dice than ``worse`` (paired over test images)."""

    claim: str
    better: str
    worse: str
    reported: str

    def check(self, named: Named) -> ClaimRow:
        missing = missing_runs(named, self.better, self.worse)
        if missing:
            return not_tested(self.claim, self.reported, missing)
        a, b = per_image(named[self.better]), per_image(named[self.worse])  # seeds averaged
        images = sorted(set(a) & set(b))
        if not images:
            return not_tested(self.claim, self.reported, ["scored on the same test images"])
        a_dice = np.array([a[name] for name in images])
        b_dice = np.array([b[name] for name in images])
        diff = paired_difference(a_dice, b_dice)
        ours = (
            f"{a_dice.mean():.4f} vs {b_dice.mean():.4f}: Δ {diff.mean:+.4f}, 95 % CI "
            f"[{diff.low:+.4f}, {diff.high:+.4f}], Wilcoxon p = {diff.p_value:.2g}, "
            f"{diff.n} images"
        )
        verdict = "within noise"
        if diff.low > 0:
            verdict = "supported"
        elif diff.high < 0:
            verdict = "contradicted"
        return ClaimRow(self.claim, self.reported, ours, verdict)


def loss_minimum(run: Run) -> tuple[int, float] | None:
    """(epoch of the lowest validation loss, how far the last epoch's loss is above it)."""
    losses = [(int(r["epoch"]), r.get("val/loss")) for r in run.epochs]
    losses = [(epoch, float(loss)) for epoch, loss in losses if isinstance(loss, int | float)]
    if not losses:
        return None
    epoch, lowest = min(losses, key=lambda pair: pair[1])
    return epoch, losses[-1][1] - lowest


@dataclass(frozen=True)
class ValidationLossRises:
    """``run``'s validation loss has its minimum near ``reported_epoch`` and rises after it.

    Epochs only compare between runs of the same length: a run shorter or longer than the
    report's ``report_epochs`` is reported as not comparable. ``contrast`` (the same run with
    augmentation) is shown beside it, since overfitting is the difference between the two.
    """

    claim: str
    run: str
    reported_epoch: int
    report_epochs: int
    contrast: str | None = None
    tolerance: int = 5  # epochs either side of the report's that still count as "about"

    def check(self, named: Named) -> ClaimRow:
        reported = f"minimum near epoch {self.reported_epoch} of {self.report_epochs}"
        missing = missing_runs(named, self.run)
        minima = [m for m in (loss_minimum(r) for r in named.get(self.run, [])) if m is not None]
        if missing or not minima:
            return not_tested(self.claim, reported, missing or [f"{self.run} with val/loss"])
        length = max(int(r.epochs[-1]["epoch"]) for r in named[self.run])
        epoch = float(np.mean([m[0] for m in minima]))
        rise = float(np.mean([m[1] for m in minima]))
        ours = f"minimum at epoch {_epochs(minima)} of {length}, then {rise:+.4f} by the end"
        contrast = [m for m in map(loss_minimum, named.get(self.contrast or "", [])) if m]
        if contrast:
            ours += f"; {self.contrast}: minimum at epoch {_epochs(contrast)}"
        if length != self.report_epochs:
            verdict = f"not comparable ({length} epochs, the report's {self.report_epochs})"
        elif all(m[1] > 0 for m in minima):
            near = abs(epoch - self.reported_epoch) <= self.tolerance
            verdict = "supported" if near else f"rises, but after epoch {epoch:.0f}"
        else:
            verdict = "not supported (no rise after the minimum)"
        return ClaimRow(self.claim, reported, ours, verdict)


def _epochs(minima: Sequence[tuple[int, float]]) -> str:
    """``23``, or ``23, 25, 27 (mean 25.0)`` over seeds."""
    epochs = [m[0] for m in minima]
    if len(epochs) == 1:
        return str(epochs[0])
    return f"{', '.join(map(str, epochs))} (mean {np.mean(epochs):.1f})"
