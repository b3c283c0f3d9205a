"""The test pass's extra scores, gathered as its batches go by (no second pass over the split).

``score_loader(..., observe=extras)`` hands every batch's logits and masks, in dataset order, to
an ``ExtraScores``; it adds per image what a breakdown needs (species, breed, pet share,
original size), the trimap-aware and boundary scores (``pet_seg.boundary``) and the probability
histograms of ``pet_seg.calibration``. The trimaps are read once per pass, at full size (for the
pet share and size) and resized to the model's grid with NEAREST, exactly as the masks were, so
the main Dice, the training targets and the cache are untouched. A picture whose trimap cannot
be read still gets its boundary score (from the batch's mask, in model pixels) and NaN for the
trimap columns.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor, nn
from torch.utils.data import DataLoader

from pet_seg.boundary import boundary_dilation, boundary_iou, hd95, trimap_dice
from pet_seg.calibration import ProbabilityBins, calibration_record
from pet_seg.data.attributes import identities_of, pet_share
from pet_seg.data.oxford_pet import (
    PIL_ERRORS,
    DataError,
    read_trimap,
    trimap_path,
    trimap_to_mask,
)
from pet_seg.run_folder import write_json_atomic
from pet_seg.scoring import score_loader
from pet_seg.trained_model import resize_logits

COLUMNS = (
    "species", "breed", "pet_share", "original_height", "original_width", "dice_trimap",
    "boundary_iou", "boundary_width_px",
)  # fmt: skip


class ExtraScores:
    """Per-image extra columns and probability histograms of one pass over ``names``."""

    def __init__(self, root: str | Path, names: list[str], with_hd95: bool = False) -> None:
        self.root, self.names, self.with_hd95 = Path(root), list(names), with_hd95
        identities = identities_of(self.root, self.names)
        self.rows: list[dict[str, Any]] = [
            {"species": i.species, "breed": i.breed} for i in identities
        ]
        self.bins = ProbabilityBins()
        self.seen = 0

    @classmethod
    def of(cls, dataset: Any, with_hd95: bool = False) -> ExtraScores | None:
        """For a dataset with ``.root`` and ``.names``; None for one without (nothing to read)."""
        root, names = getattr(dataset, "root", None), getattr(dataset, "names", None)
        return None if root is None or names is None else cls(root, names, with_hd95)

    def __call__(self, logits: Tensor, masks: Tensor) -> None:
        """One batch: (B, 1, S, S) logits and (B, 1, S, S) {0, 1} masks of the next B images."""
        self.bins.add(logits, masks)
        truths = (masks[:, 0] > 0.5).cpu().numpy()  # (B, S, S) bool; one transfer per batch
        for one_logits, truth in zip(logits.detach().float().cpu(), truths, strict=True):
            name = self.names[self.seen]
            self.rows[self.seen] |= self._image_scores(name, one_logits[None], truth)
            self.seen += 1

    def _image_scores(self, name: str, logits: Tensor, truth: np.ndarray) -> dict[str, Any]:
        """Scores of one image from its (1, 1, S, S) logits, at the original size when its
        trimap can be read, else on the grid of ``truth``."""
        read = self._trimap(name)
        if read is None:  # no trimap: the batch's grid, no don't-care
            trimap, share, size = None, math.nan, (math.nan, math.nan)
        else:
            trimap, truth = read
            share, size = pet_share(trimap), trimap.shape
        pred = (resize_logits(logits, truth.shape)[0, 0] > 0).numpy()  # (H, W) bool
        dice = math.nan if trimap is None else trimap_dice(pred, trimap)
        dilation = boundary_dilation(truth.shape)
        row = {
            "pet_share": share,
            "original_height": size[0],
            "original_width": size[1],
            "dice_trimap": dice,
            "boundary_iou": boundary_iou(pred, truth, dilation),
            "boundary_width_px": dilation,
        }
        if self.with_hd95:
            row["hd95_px"] = hd95(pred, truth)
        return row

    def _trimap(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(H, W) trimap and its bool mask at the original size; None when unreadable."""
        try:
            path = trimap_path(self.root, name)
            trimap = np.asarray(read_trimap(path), dtype=np.uint8)
            return trimap, trimap_to_mask(trimap, path).astype(bool)
        except (DataError, *PIL_ERRORS):
            return None

    def columns(self) -> dict[str, list[Any]]:
        """Column name → one value per image, for ``write_per_image``."""
        if self.seen != len(self.names):
            raise ValueError(f"observed {self.seen} images of {len(self.names)}")
        keys = list(COLUMNS) + (["hd95_px"] if self.with_hd95 else [])
        return {key: [row[key] for row in self.rows] for key in keys}


def validation_bins(
    model: nn.Module, loader: DataLoader, device: Any, precision: str = "32"
) -> ProbabilityBins:
    """Probability histograms of one validation pass of ``model`` (for the threshold it picks)."""
    bins = ProbabilityBins()
    score_loader(model, nn.BCEWithLogitsLoss(), loader, device, precision, observe=bins.add)
    return bins


def record_extras(
    extras: ExtraScores, path: Path, model: nn.Module, val_loader: DataLoader | None,
    device: Any, precision: str = "32",
) -> dict[str, list[Any]]:  # fmt: skip
    """Write ``calibration.json`` (test bins, validation's threshold) and return the CSV columns.

    ``model`` must hold the tested weights: the validation pass picks the threshold they need.
    """
    val = validation_bins(model, val_loader, device, precision) if val_loader else None
    write_json_atomic(path, calibration_record(extras.bins, val))
    return extras.columns()
