"""The study's comparison figures: one per quantity over epochs, and the test-Dice spread.

Each curve figure has one line per configuration (legend = its label), so a reader compares
the arms of an ablation on one set of axes, as in the reference study. A configuration trained
with several seeds is drawn as its mean with a min–max band over the seeds, so training noise
is seen as such; failed or unfinished runs are drawn dashed with their status in the legend,
since their partial curves often show why they failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import display_name

DPI = 130
# ``vert=False`` is deprecated from Matplotlib 3.10, which added ``orientation``.
HORIZONTAL = (
    {"orientation": "horizontal"}
    if tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
    else {"vert": False}
)
MEAN_MARKER = {
    "marker": "D",
    "markerfacecolor": "white",
    "markeredgecolor": "black",
    "markersize": 5,
}
# Runs with identical curves (e.g. the same schedule) overlap exactly; distinct markers and
# later runs drawn thinner keep every one visible.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, outside pyplot: no display, no global figure state."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


# (metrics.jsonl key, file stem, axis label, title)
QUANTITIES = (
    ("train/loss", "train_loss", "train loss (BCE)", "Training loss per epoch"),
    ("train/dice", "train_dice", "train Dice", "Training Dice per epoch (mean over images)"),
    ("val/loss", "val_loss", "validation loss (BCE)", "Validation loss per epoch"),
    ("val/dice", "val_dice", "validation Dice", "Validation Dice per epoch (mean over images)"),
    ("lr", "lr", "learning rate", "Learning rate (per optimizer step where logged)"),
)


def _colours(runs: Sequence[Run]) -> dict[str, tuple[float, ...]]:
    """One colour per label, stable across all figures of the report."""
    labels = list(dict.fromkeys(run.label for run in runs))
    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
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


def _legend(ax: Axes, count: int) -> None:
    """Inside the axes for a few runs; below them when there are many long labels."""
    if count <= 4:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    else:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)


def _logged(ys: np.ndarray) -> bool:
    return len(ys) > 0 and not np.all(np.isnan(ys))


def _curve_groups(runs: Sequence[Run]) -> list[list[Run]]:
    """Finished runs sharing a label (seeds of one configuration) make one band; a failed or
    unfinished run stays a line of its own."""
    groups: dict[tuple[str, str | int], list[Run]] = {}
    for index, run in enumerate(runs):
        key = (run.label, "finished" if run.status == "finished" else index)
        groups.setdefault(key, []).append(run)
    return list(groups.values())


def _draw_group(
    ax: Axes, group: Sequence[Run], runs: Sequence[Run], key: str, index: int, count: int
) -> bool:
    """One configuration's curve: its mean over seeds with a min–max band (a plain line for
    one run); False if no run of it logged ``key``."""
    series = [
        (x, y) for x, y in (_series(r, key) for r in group) if len(x) and not np.all(np.isnan(y))
    ]
    if not series:
        return False
    xs = series[0][0]
    ys = np.array([np.interp(xs, x, y, left=np.nan, right=np.nan) for x, y in series])  # (S, T)
    colour = _colours(runs)[group[0].label]
    label = display_name(group[0], runs)
    if len(series) > 1:
        label = f"{group[0].label} (mean of {len(series)} seeds; band: min–max)"
        ax.fill_between(xs, np.nanmin(ys, 0), np.nanmax(ys, 0), color=colour, alpha=0.2, lw=0)
    ax.plot(
        xs, np.nanmean(ys, 0), color=colour, label=label, markersize=4,
        linestyle="-" if group[0].status == "finished" else "--",
        marker=MARKERS[index % len(MARKERS)],
        markevery=max(1, len(xs) // 25),  # step-level lr: a marker every few steps
        linewidth=2.4 - 1.4 * index / max(1, count - 1),
    )  # fmt: skip
    return True


def plot_curve(runs: Sequence[Run], key: str, ylabel: str, path: Path, title: str) -> Path:
    """One figure: ``key`` over epochs, one line (or seed band) per configuration."""
    fig = new_figure(7.5, 4.6)
    ax = fig.subplots()
    groups = _curve_groups(runs)
    drawn = sum(
        _draw_group(ax, group, runs, key, index, len(groups)) for index, group in enumerate(groups)
    )
    if drawn:
        _legend(ax, drawn)
    else:
        ax.text(0.5, 0.5, "no run logged this quantity", ha="center", transform=ax.transAxes)
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if key.startswith("lr"):  # lr, or the reproduction's lr/after_step
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    return save(fig, path)


def plot_curves(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """``curves_<quantity>.png`` for train/val loss and Dice and the learning rate."""
    return [
        plot_curve(runs, key, ylabel, out_dir / f"curves_{stem}.png", title)
        for key, stem, ylabel, title in QUANTITIES
    ]


def _colour_boxes(
    ax: Axes,
    patches: list,
    runs: Sequence[Run],
    ys: np.ndarray,
    colours: dict[str, tuple[float, ...]],
) -> None:
    """Fill each box with its run's colour and scatter every image's Dice over it."""
    rng = np.random.default_rng(0)  # fixed jitter: identical figures on every rebuild
    for patch, run, y in zip(patches, runs, ys, strict=True):
        patch.set(facecolor=colours[run.label], alpha=0.45)
        jitter = rng.uniform(-0.18, 0.18, size=len(run.test_dice))
        ax.scatter(run.test_dice, y + jitter, s=7, color=colours[run.label], alpha=0.6, zorder=3)


def plot_dice_distribution(runs: Sequence[Run], path: Path) -> Path | None:
    """Box plot of per-image test Dice per run, with every image as a dot (None if no data).

    Horizontal boxes so long labels stay readable; the white diamond is the mean, the number
    the table reports.
    """
    first = {run.label: i for i, run in reversed(list(enumerate(runs)))}
    # seeds of one config side by side, rows otherwise in run order
    tested = sorted(
        (run for run in runs if run.test_dice is not None), key=lambda r: first[r.label]
    )
    if not tested:
        return None
    names = [display_name(run, runs) for run in tested]
    fig = new_figure(8.0, 1.2 + 0.75 * len(tested))
    ax = fig.subplots()
    positions = np.arange(len(tested))[::-1]  # first run on top
    boxes = ax.boxplot(
        [run.test_dice for run in tested],
        positions=positions,
        **HORIZONTAL,
        widths=0.55,
        showmeans=True,
        patch_artist=True,
        showfliers=False,
        medianprops={"color": "black", "linewidth": 1.5},
        meanprops=MEAN_MARKER,
    )
    _colour_boxes(ax, boxes["boxes"], tested, positions, _colours(runs))
    ax.set_yticks(positions, names, fontsize=8)
    ax.set(
        title="Per-image test Dice (best checkpoint)",
        xlabel="per-image Dice  (box: quartiles, line: median, ◇: mean, dots: images)",
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save(fig, path)
