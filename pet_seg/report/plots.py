"""The study's comparison figures: one per quantity over epochs, and the test-Dice spread.

Each curve figure has one line per run (legend = the run's label), so a reader compares the
arms of an ablation on one set of axes, as in the report. Runs sharing a label (seeds) share a
colour; failed or unfinished runs are drawn dashed with their status in the legend, since their
partial curves often show why they failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from pet_seg.report.labels import display_name  # noqa: E402
from pet_seg.report.runs import Run  # noqa: E402

DPI = 130
# (metrics.jsonl key, file stem, axis label)
QUANTITIES = (
    ("train/loss", "train_loss", "train loss (BCE)"),
    ("train/dice", "train_dice", "train Dice"),
    ("val/loss", "val_loss", "validation loss (BCE)"),
    ("val/dice", "val_dice", "validation Dice"),
    ("lr", "lr", "learning rate"),
)


def _colours(runs: Sequence[Run]) -> dict[str, tuple[float, ...]]:
    """One colour per label, stable across all figures of the report."""
    labels = list(dict.fromkeys(run.label for run in runs))
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _series(run: Run, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(x in epochs, y) for one quantity; NaN where a value was not finite (logged as null).

    The learning rate comes from the step records when there are any, placed at fractional
    epochs, so a per-batch schedule (one-cycle) shows its real shape rather than one point per
    epoch. Epoch-level ``lr`` is the rate an epoch started with, hence x = epoch - 1.
    """
    if key == "lr" and run.steps:
        per_epoch: dict[int, int] = {}
        for record in run.steps:
            per_epoch[int(record["epoch"])] = per_epoch.get(int(record["epoch"]), 0) + 1
        seen: dict[int, int] = {}
        xs, ys = [], []
        for record in run.steps:
            epoch = int(record["epoch"])
            seen[epoch] = seen.get(epoch, 0) + 1
            xs.append(epoch - 1 + seen[epoch] / per_epoch[epoch])
            ys.append(record.get("step/lr"))
        return np.array(xs, dtype=float), np.array([np.nan if y is None else y for y in ys], float)
    offset = 1.0 if key == "lr" else 0.0
    xs = np.array([float(r["epoch"]) - offset for r in run.epochs], dtype=float)
    ys = np.array([np.nan if r.get(key) is None else r[key] for r in run.epochs], dtype=float)
    return xs, ys


def _legend(ax: plt.Axes, count: int) -> None:
    """Inside the axes for a few runs; below them when there are many long labels."""
    if count <= 4:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    else:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)


def plot_curve(runs: Sequence[Run], key: str, ylabel: str, path: Path, title: str) -> Path:
    """One figure: ``key`` over epochs, one line per run that logged it."""
    colours = _colours(runs)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    drawn = 0
    for run in runs:
        xs, ys = _series(run, key)
        if not len(xs) or np.all(np.isnan(ys)):
            continue
        dense = len(xs) > 60  # step-level lr: a line, no markers
        ax.plot(xs, ys, color=colours[run.label], label=display_name(run, runs),
                linestyle="-" if run.status == "finished" else "--",
                marker=None if dense else "o", markersize=3.5, linewidth=1.6)
        drawn += 1
    if drawn == 0:
        ax.text(0.5, 0.5, "no run logged this quantity", ha="center", va="center",
                transform=ax.transAxes)
    else:
        _legend(ax, drawn)
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if key == "lr":
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_curves(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """``curves_<quantity>.png`` for train/val loss and Dice and the learning rate."""
    return [
        plot_curve(runs, key, ylabel, out_dir / f"curves_{stem}.png", f"{ylabel} per epoch")
        for key, stem, ylabel in QUANTITIES
    ]


def plot_dice_distribution(runs: Sequence[Run], path: Path) -> Path | None:
    """Box plot of per-image test Dice per run, with every image as a dot (None if no data).

    Horizontal boxes so long labels stay readable; the white diamond is the mean, the number
    the table reports.
    """
    tested = [run for run in runs if run.test_dice is not None]
    if not tested:
        return None
    colours = _colours(runs)
    names = [display_name(run, runs) for run in tested]
    fig, ax = plt.subplots(figsize=(8.0, 1.2 + 0.75 * len(tested)))
    positions = np.arange(len(tested))[::-1]  # first run on top
    boxes = ax.boxplot([run.test_dice for run in tested], positions=positions, vert=False,
                       widths=0.55, showmeans=True, patch_artist=True, showfliers=False,
                       meanprops={"marker": "D", "markerfacecolor": "white",
                                  "markeredgecolor": "black", "markersize": 5})
    rng = np.random.default_rng(0)  # fixed jitter: identical figures on every rebuild
    for patch, run, y in zip(boxes["boxes"], tested, positions, strict=True):
        patch.set(facecolor=colours[run.label], alpha=0.45)
        jitter = rng.uniform(-0.18, 0.18, size=len(run.test_dice))
        ax.scatter(run.test_dice, y + jitter, s=7, color=colours[run.label], alpha=0.6, zorder=3)
    ax.set_yticks(positions, names, fontsize=8)
    ax.set(title="Per-image test Dice (best checkpoint)", xlabel="per-image Dice")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path
