"""Dice and IoU from per-image pixel counts.

Counts are accumulated per image over a whole split and the score is computed once per image,
never as a mean of batch means (a batch mean weights images by which batch they fell in).

Convention: an image whose ground truth and prediction are both empty scores Dice = IoU = 1.
The reference code computes ``2I / (|P| + |G| + 1e-8)``, which gives 0 there; we follow most
libraries (torchmetrics, MONAI's ``ignore_empty=False``) because predicting "no pet" on a petless
image is a perfect answer. ``dice_epsilon=1e-8`` (``conventions=reference``) computes its
formula instead. Oxford-IIIT Pet has no petless images, so the study's numbers are unaffected.

The reference's training loop also averaged Dice differently: one Dice per batch, pooling every
pixel of the batch, then the mean over batches. ``batch_pooled_dice`` computes that number.
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


def dice_from_counts(counts: Tensor, epsilon: float | None = None) -> Tensor:
    """Per-row Dice from ``pixel_counts`` rows, shape (N,).

    ``epsilon=None``: 2|P∩G| / (|P|+|G|), and 1 where both are empty (pet_seg's convention).
    ``epsilon=1e-8``: the reference's 2|P∩G| / (|P|+|G|+ε), which is 0 where both are empty.
    """
    inter, pred, true = counts.double().unbind(1)
    denom = pred + true
    if epsilon is not None:
        return 2 * inter / (denom + epsilon)
    return torch.where(denom > 0, 2 * inter / denom.clamp_min(1), torch.ones_like(denom))


def batch_pooled_dice(counts: Tensor, batch_size: int, epsilon: float | None = None) -> Tensor:
    """The reference's training-loop Dice: one Dice per batch of pooled pixels, shape (batches,).

    ``counts`` are per-image rows in loader order; consecutive runs of ``batch_size`` rows are
    the batches, and a last, shorter batch is one batch like the others (the reference study divided
    the sum by the number of batches). Pooling weights an image by its pixel counts, so a
    large pet counts more than a small one, unlike the per-image mean.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pooled = torch.stack([chunk.sum(0) for chunk in counts.split(batch_size)])  # (batches, 3)
    return dice_from_counts(pooled, epsilon)


def iou_from_counts(counts: Tensor) -> Tensor:
    """Per-image IoU = |P∩G| / |P∪G| from ``pixel_counts`` rows, 1 where both are empty."""
    inter, pred, true = counts.double().unbind(1)
    union = pred + true - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def summarize(values: Tensor | np.ndarray) -> dict[str, float]:
    """Mean, median, std (population, ddof=0), min and max: the columns of the study's Table 1."""
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
