"""Scores that look past the main Dice: the trimap's border as don't-care, and the outline.

All take (H, W) boolean masks at one resolution (the test pass uses the model's) and
``spacing`` = (row, column) size of one pixel in pixels of the original picture, so distances
and widths are stated in original pixels whatever resolution the model ran at.

* ``trimap_dice``: Dice with the trimap's border class (3) excluded from both prediction and
  truth; the truth is the pet class (1). The main Dice counts the border as pet.
* ``boundary_iou`` (Cheng et al., "Boundary IoU", CVPR 2021): IoU of the two masks' inner
  boundary bands, the pixels of a mask within ``width`` of its outline (the mask minus its
  erosion by ``width``). The picture's edge counts as outline, as in the paper's code (the mask
  is padded with background). The paper's width is 2 % of the picture's diagonal
  (``BOUNDARY_FRACTION``); a band is never thinner than one pixel of the grid it is computed on.
* ``hd95``: the 95th-percentile Hausdorff distance between the outlines (the larger of the two
  directed 95th percentiles, as MONAI computes it), in original pixels; NaN if a mask is empty.

Distances come from ``scipy.ndimage.distance_transform_edt`` (exact Euclidean, with spacing),
not from home-made morphology. Empty-vs-empty scores 1, as the main Dice does.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

BOUNDARY_FRACTION = 0.02  # Cheng et al.'s default: 2 % of the image diagonal
BORDER = 3  # the trimap's border / unclassified class
PET = 1


def _ratio(numerator: float, denominator: float) -> float:
    return 1.0 if denominator == 0 else numerator / denominator


def trimap_dice(pred: np.ndarray, trimap: np.ndarray) -> float:
    """Dice of ``pred`` against the pet class, ignoring the trimap's border pixels in both."""
    care = trimap != BORDER
    p = pred.astype(bool) & care
    g = (trimap == PET) & care
    return _ratio(2.0 * np.sum(p & g), float(np.sum(p) + np.sum(g)))


def boundary_width(original_hw: tuple[float, float], fraction: float = BOUNDARY_FRACTION) -> float:
    """The band width in original pixels: ``fraction`` of the picture's diagonal."""
    return fraction * math.hypot(*original_hw)


def inner_distance(mask: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Distance from each mask pixel to the nearest background pixel (0 outside the mask), the
    picture's edge counting as background."""
    padded = np.pad(mask.astype(bool), 1)
    return ndimage.distance_transform_edt(padded, sampling=spacing)[1:-1, 1:-1]


def boundary_band(
    mask: np.ndarray, width: float, spacing: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Mask pixels within ``width`` of the outline; at least the one-pixel outline itself."""
    distance = inner_distance(mask, spacing)
    return mask.astype(bool) & (distance <= max(width, *spacing))


def boundary_iou(
    pred: np.ndarray, truth: np.ndarray, width: float, spacing: tuple[float, float] = (1.0, 1.0)
) -> float:
    """Boundary IoU: |B(P) ∩ B(G)| / |B(P) ∪ B(G)| of the inner bands of width ``width``."""
    bp, bg = boundary_band(pred, width, spacing), boundary_band(truth, width, spacing)
    return _ratio(float(np.sum(bp & bg)), float(np.sum(bp | bg)))


def hd95(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """95th-percentile Hausdorff distance between the outlines; NaN if either mask is empty."""
    if not pred.any() and not truth.any():
        return 0.0
    if not pred.any() or not truth.any():
        return math.nan
    outline_p = boundary_band(pred, 0.0, spacing)
    outline_g = boundary_band(truth, 0.0, spacing)
    to_g = ndimage.distance_transform_edt(~outline_g, sampling=spacing)[outline_p]
    to_p = ndimage.distance_transform_edt(~outline_p, sampling=spacing)[outline_g]
    return float(max(np.percentile(to_g, 95), np.percentile(to_p, 95)))
