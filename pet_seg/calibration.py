"""Calibration and threshold from probability histograms: no per-pixel data is kept.

During a pass every pixel's foreground probability falls into one of ``BINS`` equal bins of
width 0.05; per image and bin we count pixels and true-pet pixels, and per bin we sum the
probabilities. From these:

* the expected calibration error, ECE = Σ_b (n_b / n) · |positives_b / n_b − mean p_b|, over all
  pixels of the split pooled (how far "p = 0.8" is from 80 % pet), and the reliability diagram;
* per-image Dice at every threshold 0.05, 0.10, …, 0.95 (a pixel is pet when p > t), since the
  pixels above t are exactly those of the bins above t, so the curve is exact, not binned.

Bins are cut on logits at logit(t), so ``p > 0.5`` here is ``logit > 0``, the main Dice's rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

BINS = 20
THRESHOLDS = np.round(np.arange(1, BINS) * (1.0 / BINS), 2)  # 0.05 … 0.95, the bin edges
MAIN_THRESHOLD = 0.5
LOGIT_EDGES = torch.tensor([math.log(t / (1 - t)) for t in THRESHOLDS], dtype=torch.float32)


@dataclass
class ProbabilityBins:
    """Running histograms of one pass; ``add`` once per batch, in dataset order."""

    counts: list[Tensor] = field(default_factory=list)  # (B, BINS) pixels per image and bin
    positives: list[Tensor] = field(default_factory=list)  # (B, BINS) true-pet pixels
    prob_sum: Tensor | None = None  # (BINS,) float64 sum of probabilities per bin

    def add(self, logits: Tensor, masks: Tensor) -> None:
        """(B, 1, H, W) logits and {0, 1} masks; stays on the device (no host sync)."""
        flat = logits.detach().float().flatten(1)  # (B, H*W)
        batch = flat.shape[0]
        bins = torch.bucketize(flat, LOGIT_EDGES.to(flat.device))  # (B, H*W) in 0..BINS-1
        slot = (bins + BINS * torch.arange(batch, device=flat.device)[:, None]).flatten()
        true = (masks > 0.5).flatten()
        self.counts.append(torch.bincount(slot, minlength=batch * BINS).view(batch, BINS))
        self.positives.append(torch.bincount(slot[true], minlength=batch * BINS).view(batch, -1))
        probs = torch.sigmoid(flat).flatten().double()
        sums = torch.bincount(bins.flatten(), weights=probs, minlength=BINS)
        self.prob_sum = sums if self.prob_sum is None else self.prob_sum + sums

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(counts (N, BINS), positives (N, BINS), prob_sum (BINS,)) on the host."""
        if not self.counts:
            raise ValueError("no batches were added")
        counts = torch.cat(self.counts).cpu().numpy()
        positives = torch.cat(self.positives).cpu().numpy()
        return counts, positives, self.prob_sum.cpu().numpy()


def expected_calibration_error(count: np.ndarray, positives: np.ndarray, prob_sum: np.ndarray):
    """ECE over pooled bins: Σ (n_b / n) |accuracy_b − confidence_b| (empty bins add 0)."""
    count = np.asarray(count, dtype=np.float64)
    used = count > 0
    gap = np.abs(positives[used] / count[used] - prob_sum[used] / count[used])
    return float(np.sum(count[used] / count.sum() * gap))


def dice_by_threshold(counts: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Per-image Dice at each of ``THRESHOLDS``, (N, len(THRESHOLDS)); empty-vs-empty is 1.

    Pixels above threshold k are those of bins k+1 … BINS-1: reverse cumulative sums.
    """
    above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, 1:]  # (N, T) predicted pixels
    hits = np.cumsum(positives[:, ::-1], axis=1)[:, ::-1][:, 1:]  # (N, T) intersection
    true = positives.sum(axis=1, keepdims=True)  # (N, 1)
    denominator = above + true
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2.0 * hits / denominator, 1.0)


def summarize_bins(bins: ProbabilityBins) -> dict:
    """What ``calibration.json`` holds for one pass: pooled bins, ECE, the mean Dice curve."""
    counts, positives, prob_sum = bins.arrays()
    count, hits = counts.sum(axis=0), positives.sum(axis=0)
    return {
        "images": len(counts),
        "bin_edges": [round(i / BINS, 2) for i in range(BINS + 1)],
        "count": count.tolist(),
        "positives": hits.tolist(),
        "prob_sum": prob_sum.tolist(),
        "ece": expected_calibration_error(count, hits, prob_sum),
        "thresholds": THRESHOLDS.tolist(),
        "dice": dice_by_threshold(counts, positives).mean(axis=0).tolist(),
    }


def calibration_record(test: ProbabilityBins, val: ProbabilityBins | None) -> dict:
    """Test (and validation) summaries, the threshold validation picks, and the test Dice
    there against the main 0.5: how much tuning the threshold would change the row."""
    record = {"test": summarize_bins(test), "val": summarize_bins(val) if val else None}
    main = int(np.argmin(np.abs(THRESHOLDS - MAIN_THRESHOLD)))
    picked = int(np.argmax(record["val"]["dice"])) if val else main
    curve = record["test"]["dice"]
    record |= {
        "picked_by": "val" if val else "none (no validation pass): 0.5",
        "threshold": float(THRESHOLDS[picked]),
        "test_dice_at_0.5": curve[main],
        "test_dice_at_threshold": curve[picked],
        "tuning_gain": curve[picked] - curve[main],
    }
    return record
