"""The report's 4-panel picture per sample: image, ground truth, probability, thresholded mask.

Each run's model is rebuilt from nothing but its ``checkpoints/best.pt`` (weights + resolved
config), and fed the first N images of that run's own test split, so every run is shown on the
same fixed images and the picture matches the checkpoint the table's numbers come from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate

from pet_seg.checkpoint import load_checkpoint
from pet_seg.preprocess import prepare_batch
from pet_seg.report.labels import display_name
from pet_seg.report.plots import new_figure, save
from pet_seg.report.runs import Run

THRESHOLD = 0.5
PATH_KEYS = ("root", "cache_dir")


def _data_config(config: dict[str, Any], cwd: Path | None) -> dict[str, Any]:
    """The run's data config, relative paths resolved against the folder the run started in.

    Hydra does not change directory, so ``data.root=data/...`` means "relative to where the run
    was launched", which need not be where the report is built.
    """
    data = dict(config)
    for key in PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and cwd is not None and not Path(value).is_absolute():
            data[key] = str(cwd / value)
    return data


class TestImages:
    """First-N test images per data config, loaded once however many runs share it."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._cache: dict[str, tuple[list[str], torch.Tensor, torch.Tensor]] = {}

    def get(self, data: dict[str, Any]) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        """(names, uint8 images (N, 3, H, W), uint8 masks (N, 1, H, W))."""
        key = json.dumps(data, sort_keys=True, default=str)
        if key not in self._cache:
            test = instantiate(data)["test"]
            count = min(self.count, len(test))
            pairs = [test[i] for i in range(count)]
            images = torch.stack([image for image, _ in pairs])
            masks = torch.stack([mask for _, mask in pairs])
            self._cache[key] = (list(test.names[:count]), images, masks)
        return self._cache[key]


@torch.no_grad()
def predict(run: Run, images: TestImages) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(names, RGB images (N, H, W, 3), masks (N, H, W), probabilities (N, H, W))."""
    state = load_checkpoint(run.path / "checkpoints" / "best.pt")
    model = instantiate(state["config"]["model"])
    model.load_state_dict(state["model"])
    model.eval()
    names, images_u8, masks_u8 = images.get(_data_config(state["config"]["data"], run.cwd))
    x, _ = prepare_batch(images_u8, masks_u8, torch.device("cpu"))
    prob = torch.sigmoid(model(x).float())[:, 0]  # (N, H, W)
    return (names, images_u8.permute(0, 2, 3, 1).numpy(), masks_u8[:, 0].numpy(), prob.numpy())


def _dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Per-image Dice, 1 when both are empty (the convention of pet_seg.metrics)."""
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(pred, true).sum() / total)


def sample_grid(run: Run, title: str, images: TestImages, path: Path) -> Path:
    """Rows = test images; columns = image, ground truth, probability map, mask (p > 0.5)."""
    names, rgb, masks, prob = predict(run, images)
    fig = new_figure(10.5, 2.6 * len(names) + 0.6)
    axes = np.atleast_2d(fig.subplots(len(names), 4, squeeze=False))
    for row, name in enumerate(names):
        pred = prob[row] > THRESHOLD
        panels = [
            (rgb[row], {}, f"{name}"),
            (masks[row], {"cmap": "gray", "vmin": 0, "vmax": 1}, "ground truth"),
            (prob[row], {"cmap": "viridis", "vmin": 0, "vmax": 1}, "probability"),
            (
                pred,
                {"cmap": "gray", "vmin": 0, "vmax": 1},
                f"p > {THRESHOLD} (Dice {_dice(pred, masks[row] > 0):.3f})",
            ),
        ]
        drawn = []
        for ax, (picture, style, label) in zip(axes[row], panels, strict=True):
            drawn.append(ax.imshow(picture, interpolation="nearest", **style))
            ax.set_title(label, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(drawn[2], ax=axes[row][2], fraction=0.046, pad=0.02)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, path)


def slug(text: str) -> str:
    """A file-name-safe version of a run label."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    return "_".join(part for part in cleaned.split("_") if part)[:80] or "run"


def sample_grids(runs: Sequence[Run], out_dir: Path, count: int) -> tuple[list[Path], list[str]]:
    """``samples_<label>.png`` per finished run with a best checkpoint; notes on skipped ones."""
    images = TestImages(count)
    paths: list[Path] = []
    notes: list[str] = []
    used: set[str] = set()
    for run in runs:
        if run.status != "finished" or count <= 0:
            continue
        name = display_name(run, runs)
        stem = slug(name)
        while stem in used:
            stem += "_"
        used.add(stem)
        try:
            paths.append(sample_grid(run, name, images, out_dir / f"samples_{stem}.png"))
        except Exception as err:  # one unloadable run must not sink the report
            notes.append(f"samples skipped for {name}: {type(err).__name__}: {err}")
    return paths, notes
