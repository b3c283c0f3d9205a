"""Dice and IoU from per-image pixel counts.

Counts are accumulated per image over a whole split and the score is computed once per image,
never as a mean of batch means (a batch mean weights images by which batch they fell in).

Convention: an image whose ground truth and prediction are both empty scores Dice = IoU = 1.
The report's formula gives 0/0 there (it returned 0); we follow most libraries
(torchmetrics, MONAI's ``ignore_empty=False``) because predicting "no pet" on a petless image is
a perfect answer. Oxford-IIIT Pet has no petless images, so the study's numbers are unaffected.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def pixel_counts(logits: Tensor, masks: Tensor) -> Tensor:
    """Per-image [intersection, predicted, true] foreground pixel counts, shape (B, 3).

    ``sigmoid(logit) > 0.5`` is the same as ``logit > 0``, so no sigmoid is needed here.
    """
    pred = (logits > 0).flatten(1)  # (B, H*W)
    true = (masks > 0.5).flatten(1)  # (B, H*W)
    inter = (pred & true).sum(1)
    return torch.stack([inter, pred.sum(1), true.sum(1)], dim=1)  # (B, 3)


def dice_from_counts(counts: Tensor) -> Tensor:
    """Per-image Dice = 2|P∩G| / (|P|+|G|) from ``pixel_counts`` rows, 1 where both are empty."""
    inter, pred, true = counts.double().unbind(1)
    denom = pred + true
    return torch.where(denom > 0, 2 * inter / denom.clamp_min(1), torch.ones_like(denom))


def iou_from_counts(counts: Tensor) -> Tensor:
    """Per-image IoU = |P∩G| / |P∪G| from ``pixel_counts`` rows, 1 where both are empty."""
    inter, pred, true = counts.double().unbind(1)
    union = pred + true - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def summarize(values: Tensor | np.ndarray) -> dict[str, float]:
    """Mean, median, std (population, ddof=0), min and max, as the report's Table 1 lists them."""
    array = np.asarray(values.cpu() if isinstance(values, Tensor) else values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("cannot summarize an empty set of per-image scores")
    return {
        "mean": float(array.mean()),
        "median": float(np.median(array)),
        "std": float(array.std()),
        "min": float(array.min()),
        "max": float(array.max()),
    }
