"""The report's curve figures, drawn in the averages the report's code drew them in.

Every run logs both averages under their own names (``pet_seg.training.conventions``). Under the
reference's conventions the figures show the reference's: Dice pooled per batch and the mean of
batch-mean losses (``train/dice_per_batch``, ``val/loss_per_batch``, …), and the learning rate
once per epoch *after* that epoch's scheduler steps, where the reference read it. Our epoch
record's ``lr`` is the rate the epoch began with, so the rate after epoch e is the last
``step/lr`` of epoch e (logged after each scheduler step) for a per-batch schedule, and the rate
epoch e + 1 began with for a per-epoch one (after the last epoch it was never logged). Under
pet_seg's conventions they show the per-image Dice, the pixel-mean loss and every step's rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pet_seg.report.render.plots import QUANTITIES, plot_curve
from pet_seg.report.runs.folder import Run

LR_AFTER_STEP = "lr/after_step"  # a key of the copies drawn here, never of metrics.jsonl
PER_BATCH = {
    "train/loss": ("train/loss_per_batch", "train loss (BCE), mean of batch means"),
    "train/dice": ("train/dice_per_batch", "train Dice, pooled per batch, mean over batches"),
    "val/loss": ("val/loss_per_batch", "validation loss (BCE), mean of batch means"),
    "val/dice": ("val/dice_per_batch", "validation Dice, pooled per batch, mean over batches"),
    "lr": (LR_AFTER_STEP, "learning rate after the epoch's scheduler step"),
}
SAYS = {
    True: "the report's averages: Dice pooled per batch and the mean of batch-mean losses "
    "(`*_per_batch`), as its code computed them; the learning rate once per epoch, after that "
    "epoch's scheduler step, where its code read it (after the last epoch of a per-epoch "
    "schedule it was never logged)",
    False: "pet_seg's averages: the mean of per-image Dice and the pixel-mean loss; the learning "
    "rate at every optimizer step",
}


def uses_reference_averages(runs: Sequence[Run]) -> bool:
    """True when every run acted on the reference's per-batch averages (conventions=reference)."""
    picked = {str((r.config.get("conventions") or {}).get("val_dice")) for r in runs}
    return bool(runs) and picked == {"val/dice_per_batch"}


def lr_after_step(run: Run) -> list[float | None]:
    """Per epoch, the learning rate after that epoch's scheduler steps (None where not logged)."""
    per_step = (run.config.get("scheduler") or {}).get("interval") == "step"
    last_step: dict[int, Any] = {int(r["epoch"]): r.get("step/lr") for r in run.steps}
    values: list[float | None] = []
    for i, record in enumerate(run.epochs):
        if per_step:
            values.append(last_step.get(int(record["epoch"])))
        else:
            following = run.epochs[i + 1] if i + 1 < len(run.epochs) else {}
            values.append(following.get("lr"))
    return values


def with_lr_after_step(run: Run) -> Run:
    """A copy of ``run`` whose epoch records also hold ``lr/after_step``."""
    epochs = [
        {**record, LR_AFTER_STEP: lr}
        for record, lr in zip(run.epochs, lr_after_step(run), strict=True)
    ]
    return dataclasses.replace(run, epochs=epochs)


def curve_figures(reference: Mapping[str, Any], named: Mapping[str, Sequence[Run]], out: Path):
    """The report's curve figures, one file per (model, comparison, quantity); Markdown lines."""
    everyone = [run for runs in named.values() for run in runs]
    per_batch = uses_reference_averages(everyone)
    quantities = {key: (stem, label, title) for key, stem, label, title in QUANTITIES}
    lines = [f"Drawn in {SAYS[per_batch]}.", ""]
    for model, spec in reference["models"].items():
        lines += [f"### {model}", ""]
        for group, figure in spec["figures"].items():
            shown = [run for name in figure["runs"] for run in named.get(name, [])]
            lines += [f"#### {figure['title']}", ""]
            if not shown:
                lines += [f"No run of {', '.join(figure['runs'])}.", ""]
                continue
            if per_batch:
                shown = [with_lr_after_step(run) for run in shown]
            for key in figure["quantities"]:
                stem, label, title = quantities[key]
                if per_batch:
                    key, label = PER_BATCH[key]
                    title = label[0].upper() + label[1:]
                path = out / f"reproduce_{model.lower()}_{group}_{stem}.png"
                plot_curve(shown, key, label, path, f"{model}: {title}\n{figure['title']}")
                lines += [f"![{model} {group} {stem}: `{key}`]({path.name})", ""]
    return lines
