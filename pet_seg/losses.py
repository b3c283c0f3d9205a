"""Training losses on logits: the ``loss`` config group's soft Dice and BCE + Dice.

BCE-with-logits (the report's loss, ``conf/loss/bce.yaml``) is PyTorch's own. Soft Dice is a few
lines, so it lives here rather than pulling in a segmentation library for one function.

**Soft Dice convention.** Per image, over all its channels and pixels, with p = sigmoid(logit)
and g the {0, 1} mask::

    soft Dice = (2·Σ p·g + s) / (Σ p + Σ g + s),    loss = 1 − soft Dice,

averaged over the images of the batch. ``s`` (``smooth``, default 1) is added to both sides, so
an image with an empty mask stays defined: an empty prediction scores 1 (loss 0), the metric's
convention in ``pet_seg.metrics``, and any predicted foreground p costs Σp / (Σp + s). On a
256×256 pet mask s = 1 moves the value by well under 1e-4. Per image rather than over the
whole batch so that the loss, like the per-image metric, weighs small and large pets alike and
does not change meaning with the batch size (a study axis here).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def soft_dice(logits: Tensor, target: Tensor, smooth: float = 1.0) -> Tensor:
    """(B, C, H, W) logits and masks → (B,) soft Dice per image."""
    probs = torch.sigmoid(logits.float()).flatten(1)  # (B, C·H·W), fp32 even under autocast
    truth = target.float().flatten(1)
    overlap = (probs * truth).sum(dim=1)
    return (2 * overlap + smooth) / (probs.sum(dim=1) + truth.sum(dim=1) + smooth)


class SoftDiceLoss(nn.Module):
    """1 − soft Dice of sigmoid(logits) and the mask, per image, mean over the batch."""

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        if smooth < 0:
            raise ValueError(f"loss.smooth must be >= 0, got {smooth}")
        self.smooth = smooth

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return 1 - soft_dice(logits, target, self.smooth).mean()


class BCEDiceLoss(nn.Module):
    """``bce_weight`` · BCE-with-logits + ``dice_weight`` · soft-Dice loss.

    BCE gives every pixel a gradient from the first step; the Dice term scores the mask's
    overlap as the metric does, which re-runs of this study credit with about +2 points.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0):
        super().__init__()
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.bce = nn.BCEWithLogitsLoss()
        self.dice = SoftDiceLoss(smooth)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        bce = self.bce(logits.float(), target.float())
        return self.bce_weight * bce + self.dice_weight * self.dice(logits, target)
