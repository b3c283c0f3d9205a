"""Scores that look past the main Dice: the trimap's border as don't-care, and the outline.

All take (H, W) boolean masks on one grid; the test pass gives them the original picture's grid
(``pet_seg.extra_scores``), so widths and distances are in original pixels.

* ``trimap_dice``: Dice with the trimap's border class (3) excluded from both prediction and
  truth; the truth is the pet class (1). The main Dice counts the border as pet.
* ``boundary_iou`` (Cheng et al., "Boundary IoU", CVPR 2021) as the paper's reference code
  computes it (boundary-iou-api, ``mask_to_boundary``): a mask's boundary is the mask minus its
  erosion by a 3×3 square applied ``dilation`` times, the picture's edge counting as outline
  (the mask is padded with one row and column of background); ``dilation = max(1, round(0.02 ×
  diagonal))`` pixels of the grid the masks are on. ``dilation`` erosions by a 3×3 square are
  one erosion by a (2·dilation + 1) square, done here as two 1-D running minima (separable, so
  the cost does not grow with the band's width). Both masks empty scores 1 (the reference code
  divides 0 by 0), as the main Dice does.
* ``hd95``: the 95th-percentile Hausdorff distance between the outlines (the larger of the two
  directed 95th percentiles, as MONAI computes it); NaN if one mask is empty.

Distances come from ``scipy.ndimage.distance_transform_edt`` (exact Euclidean, with spacing),
not from home-made morphology.
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


def boundary_dilation(shape: tuple[int, int], fraction: float = BOUNDARY_FRACTION) -> int:
    """The band's width in pixels of a ``shape`` grid: ``max(1, round(fraction × diagonal))``,
    with the reference code's arithmetic (``np.sqrt(h**2 + w**2)``, rounding half to even)."""
    height, width = shape
    return max(1, int(np.round(fraction * np.sqrt(height**2 + width**2))))


def mask_to_boundary(mask: np.ndarray, dilation: int) -> np.ndarray:
    """(H, W) bool: mask pixels within ``dilation`` 3×3 erosions of the outline or the edge."""
    inside = mask.astype(np.uint8)
    size = 2 * dilation + 1  # d erosions by 3×3 = one by a (2d+1)² square
    eroded = ndimage.minimum_filter1d(inside, size, axis=0, mode="constant", cval=0)
    eroded = ndimage.minimum_filter1d(eroded, size, axis=1, mode="constant", cval=0)
    return inside.astype(bool) & ~eroded.astype(bool)


def boundary_iou(pred: np.ndarray, truth: np.ndarray, dilation: int | None = None) -> float:
    """Boundary IoU: |B(P) ∩ B(G)| / |B(P) ∪ B(G)|; ``dilation`` defaults to the paper's for
    the masks' grid (``boundary_dilation``)."""
    dilation = boundary_dilation(truth.shape) if dilation is None else dilation
    bp, bg = mask_to_boundary(pred, dilation), mask_to_boundary(truth, dilation)
    return _ratio(float(np.sum(bp & bg)), float(np.sum(bp | bg)))


def outline(mask: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Mask pixels with a background pixel (or the picture's edge) next to them, 4-connected."""
    padded = np.pad(mask.astype(bool), 1)
    distance = ndimage.distance_transform_edt(padded, sampling=spacing)[1:-1, 1:-1]
    return mask.astype(bool) & (distance <= max(spacing))


def hd95(pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """95th-percentile Hausdorff distance between the outlines; NaN if either mask is empty."""
    if not pred.any() and not truth.any():
        return 0.0
    if not pred.any() or not truth.any():
        return math.nan
    outline_p, outline_g = outline(pred, spacing), outline(truth, spacing)
    to_g = ndimage.distance_transform_edt(~outline_g, sampling=spacing)[outline_p]
    to_p = ndimage.distance_transform_edt(~outline_p, sampling=spacing)[outline_g]
    return float(max(np.percentile(to_g, 95), np.percentile(to_p, 95)))
