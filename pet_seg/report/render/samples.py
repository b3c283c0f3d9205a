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

import torch
from hydra.utils import instantiate

from pet_seg.metrics import dice_from_counts, pixel_counts
from pet_seg.panels import draw_panels
from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import display_name
from pet_seg.run_folder import RunFolder
from pet_seg.trained_model import load_model, predict_logits

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


def sample_grid(run: Run, title: str, images: TestImages, path: Path) -> Path:
    """Rows = test images; columns = image, ground truth, probability map, mask (p > 0.5)."""
    model, config = load_model(RunFolder(run.path).best)
    names, images_u8, masks_u8 = images.get(_data_config(config["data"], run.cwd))
    logits = predict_logits(model, images_u8, "cpu")  # (N, 1, H, W)
    dice = dice_from_counts(pixel_counts(logits, masks_u8.float()))  # (N,)
    samples = [
        (image.permute(1, 2, 0).numpy(), mask[0].numpy(), prob[0].numpy())
        for image, mask, prob in zip(images_u8, masks_u8, torch.sigmoid(logits), strict=True)
    ]
    titles = [f"{name}  Dice {d:.3f}" for name, d in zip(names, dice.tolist(), strict=True)]
    return draw_panels(samples, path, titles, suptitle=title)


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
