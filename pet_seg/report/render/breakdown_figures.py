"""The figures of "Where a difference comes from": per run a reliability diagram and test Dice
against the threshold (from ``calibration.json``), and per paired comparison a gallery of the
images the two configurations disagree on most (redrawn from their best checkpoints).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate

from pet_seg.report.render.plots import new_figure, save
from pet_seg.report.render.samples import _data_config
from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import display_name
from pet_seg.report.statistics.groups import Arm, PairBreakdown
from pet_seg.run_folder import RunFolder, read_json_object
from pet_seg.trained_model import load_model, predict_probabilities

GALLERY = 3  # images per direction


def plot_reliability(runs: Sequence[Run], path: Path) -> Path | None:
    """Fraction of pet pixels against mean probability per bin, one line per run (test set)."""
    fig = new_figure(6, 5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    drawn = 0
    for run in runs:
        test = read_calibration(run).get("test") or {}
        if not {"count", "positives", "prob_sum", "ece"} <= set(test):
            continue  # an older or damaged calibration.json: no line for this run
        count = np.asarray(test["count"], dtype=float)
        used = count > 0
        confidence = np.asarray(test["prob_sum"])[used] / count[used]
        accuracy = np.asarray(test["positives"])[used] / count[used]
        name = f"{display_name(run, runs)} (ECE {test['ece']:.3f})"
        ax.plot(confidence, accuracy, marker="o", markersize=3, label=name)
        drawn += 1
    if not drawn:
        return None
    ax.set(
        xlabel="mean predicted probability (bin)",
        ylabel="fraction of pet pixels",
        title="Reliability on the test set (20 bins, all pixels)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(fontsize=7)
    return save(fig, path)


def plot_threshold_curves(runs: Sequence[Run], path: Path) -> Path | None:
    """Mean per-image test Dice against the threshold, one line per run; the dot is the
    threshold validation picks, the dashed line the 0.5 the tables use."""
    fig = new_figure(6, 5)
    ax = fig.add_subplot()
    drawn = 0
    for run in runs:
        record = read_calibration(run)
        if not {"thresholds", "dice"} <= set(record.get("test") or {}) or "threshold" not in record:
            continue
        line = ax.plot(
            record["test"]["thresholds"], record["test"]["dice"], label=display_name(run, runs)
        )
        ax.plot(
            [record["threshold"]],
            [record["test_dice_at_threshold"]],
            "o",
            color=line[0].get_color(),
        )
        drawn += 1
    if not drawn:
        return None
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set(
        xlabel="threshold on the probability",
        ylabel="test Dice (mean per image)",
        title="Test Dice by threshold (dot: validation's pick)",
    )
    ax.legend(fontsize=7)
    return save(fig, path)


def read_calibration(run: Run) -> dict[str, Any]:
    return read_json_object(RunFolder(run.path).calibration)


def _predictions(arm: Arm, names: Sequence[str]) -> tuple[list, list, list]:
    """Images, truths and probabilities at the model's size from the arm's first seed."""
    run = arm.runs[0]
    model, config = load_model(RunFolder(run.path).best)
    test = instantiate(_data_config(config["data"], run.cwd))["test"]
    index = {name: i for i, name in enumerate(test.names)}
    pairs = [test[index[name]] for name in names]
    images = [image for image, _ in pairs]
    probs = predict_probabilities(model, torch.stack(images), "cpu")  # (B, 1, S, S)
    return (
        [image.permute(1, 2, 0).numpy() for image in images],
        [mask[0].numpy() for _, mask in pairs],
        [p[0].numpy() for p in probs],
    )


def plot_gallery(pair: PairBreakdown, path: Path, count: int = GALLERY) -> Path | None:
    """Rows: the images where the second configuration beats the first most, then the reverse;
    columns: image, truth, first's mask, second's mask (first seed), with seed-mean Dice."""
    order = np.argsort(pair.image_difference, kind="stable")
    chosen = [*order[::-1][:count], *order[:count]]
    names = [pair.names[i] for i in chosen]
    images, truths, first = _predictions(pair.first, names)
    _, _, second = _predictions(pair.second, names)
    dice = {
        arm.label: dict(zip(arm.names, np.nanmean(arm.scores["dice"], axis=0), strict=True))
        for arm in (pair.first, pair.second)
    }
    key = pair.changed
    fig = new_figure(10, 2.6 * len(names))
    axes = fig.subplots(len(names), 4, squeeze=False)
    for row, name in enumerate(names):
        a, b = dice[pair.first.label][name], dice[pair.second.label][name]
        panels = (images[row], truths[row], first[row] > 0.5, second[row] > 0.5)
        titles = (
            name,
            "truth",
            f"{key}={pair.values[0]}\nDice {a:.3f}",
            f"{key}={pair.values[1]}\nDice {b:.3f}",
        )
        for ax, picture, title in zip(axes[row], panels, titles, strict=True):
            ax.imshow(
                picture,
                cmap=None if picture.ndim == 3 else "gray",
                vmin=0,
                vmax=1,
                interpolation="nearest",
            )
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(
        f"{key}: where {pair.values[1]} beats {pair.values[0]} most (top rows) and the reverse"
    )
    fig.tight_layout()
    return save(fig, path)
