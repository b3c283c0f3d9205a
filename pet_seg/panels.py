"""The report's 4-panel picture: image | ground truth | probability map | thresholded mask.

One row per sample, so the worst and best images of a split sit in one file that is easy to
scan. The probability map uses a fixed 0..1 colour scale, so rows (and files) compare directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import numpy as np

COLUMNS = ("image", "ground truth", "probability", "mask (p > 0.5)")
Sample = tuple[np.ndarray, np.ndarray, np.ndarray]  # (H, W, 3) uint8, (H, W) {0,1}, (H, W) float


def _check(sample: Sample, row: int) -> None:
    image, mask, prob = sample
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"sample {row}: image must be (H, W, 3), got {image.shape}")
    if mask.shape != image.shape[:2] or prob.shape != image.shape[:2]:
        raise ValueError(
            f"sample {row}: mask {mask.shape} and prob {prob.shape} must match the image's "
            f"(H, W) = {image.shape[:2]}"
        )


def draw_panels(
    samples: Sequence[Sample],
    path: str | Path,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
) -> Path:
    """Write one 4-column row per (image, mask, prob) sample to ``path`` (PNG); return the path.

    ``titles`` (one per row, e.g. "name  Dice 0.912") label the image column.
    """
    if not samples:
        raise ValueError("draw_panels needs at least one sample")
    if titles is not None and len(titles) != len(samples):
        raise ValueError(f"{len(titles)} titles for {len(samples)} samples")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = len(samples)
    fig, axes = plt.subplots(rows, 4, figsize=(12, 3 * rows), squeeze=False)
    for row, sample in enumerate(samples):
        _check(sample, row)
        image, mask, prob = sample
        shown = axes[row]
        shown[0].imshow(image)
        shown[1].imshow(mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        heat = shown[2].imshow(prob, cmap="viridis", vmin=0.0, vmax=1.0)
        shown[3].imshow(prob > 0.5, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        fig.colorbar(heat, ax=shown[2], fraction=0.046, pad=0.04)
        for col, ax in enumerate(shown):
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(COLUMNS[col])
        if titles is not None:
            shown[0].set_ylabel(titles[row], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
