"""Scoring a split: per-image pixel counts over the whole split, Dice and IoU once per image.

Everything stays on the device until the split is done, so there is one host sync per split
rather than one ``.item()`` per batch. The report's per-batch averages
(``pet_seg.training.conventions``) come from the same pass: batch Dice from the per-image
counts, batch losses as they go by.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pet_seg.metrics import (
    batch_pooled_dice,
    dice_from_counts,
    iou_from_counts,
    pixel_counts,
    summarize,
)
from pet_seg.precision import autocast
from pet_seg.preprocess import prepare_batch
from pet_seg.training.distributed import World, gather_rows, sum_across


@dataclass
class Evaluation:
    """Mean loss over the split and per-image (N, 3) [intersection, predicted, true] counts.

    ``loss`` is the pixel mean over the split; ``loss_per_batch`` the mean over the loader's
    batches of each batch's mean (the report's), NaN where it was not measured. ``batch_size``
    is the loader's (global) batch, which ``dice_per_batch`` pools.
    """

    loss: float
    counts: Tensor
    loss_per_batch: float = float("nan")
    batch_size: int | None = None
    dice_epsilon: float | None = None  # None: pet_seg's Dice; 1e-8: the report's formula

    @property
    def dice(self) -> Tensor:
        """Per-image Dice, (N,)."""
        return dice_from_counts(self.counts, self.dice_epsilon)

    @property
    def dice_per_batch(self) -> Tensor:
        """The report's Dice: one per batch of pooled pixels, in loader order, (batches,)."""
        if self.batch_size is None:
            raise ValueError("this evaluation did not record its batch size")
        return batch_pooled_dice(self.counts, self.batch_size, self.dice_epsilon)

    @property
    def iou(self) -> Tensor:
        return iou_from_counts(self.counts)

    @property
    def mean_dice(self) -> float:
        return float(self.dice.mean())


@torch.no_grad()
def evaluate(
    model: nn.Module,
    criterion: nn.Module,
    loader: DataLoader,
    device: torch.device,
    precision: str = "32",
    channels_last: bool = False,
    progress: bool = False,
    desc: str = "eval",
    world: World | None = None,
    dice_epsilon: float | None = None,
) -> Evaluation:
    """Loss (pixel mean over the split, and mean of batch means) and per-image counts.

    Under DDP each rank scores its shard and the counts are gathered in dataset order, so every
    rank returns the whole split's result; batch Dice then pools the batches a single process
    would see, while the mean of batch losses is over every rank's own (smaller) batches.
    """
    world = world or World()
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    batch_loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    counts, seen, batches = [], 0, 0
    for images, masks in tqdm(loader, desc=desc, leave=False, disable=None if progress else True):
        x, y = prepare_batch(images, masks, device, channels_last=channels_last)
        with autocast(device, precision):
            logits = model(x)  # (B, 1, H, W)
        logits = logits.float()
        loss = criterion(logits, y).double()  # the batch's mean over its pixels
        loss_sum += loss * len(x)  # every image has H*W pixels
        batch_loss_sum += loss
        counts.append(pixel_counts(logits, y))
        seen, batches = seen + len(x), batches + 1
    if seen == 0:
        raise ValueError("cannot evaluate an empty split")
    # DDP: the sampler's padding repeats a few images in the loss; the counts are cut exactly.
    totals = sum_across(
        torch.stack(
            [loss_sum, loss_sum.new_tensor(seen), batch_loss_sum, loss_sum.new_tensor(batches)]
        ),
        world,
    )
    rows = gather_rows(torch.cat(counts), world, total=len(loader.dataset))
    return Evaluation(
        loss=float(totals[0] / totals[1]),
        counts=rows.cpu(),
        loss_per_batch=float(totals[2] / totals[3]),
        batch_size=(loader.batch_size or 1) * world.size,
        dice_epsilon=dice_epsilon,
    )


def write_per_image(path: Path, names: Sequence[str], evaluation: Evaluation) -> None:
    """One CSV row per image: name, dice, iou and the pixel counts they come from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "dice", "iou", "intersection", "predicted", "true"])
        rows = zip(
            names,
            evaluation.dice.tolist(),
            evaluation.iou.tolist(),
            evaluation.counts.tolist(),
            strict=True,
        )
        for name, dice, iou, (inter, pred, true) in rows:
            writer.writerow([name, f"{dice:.6f}", f"{iou:.6f}", inter, pred, true])


def summary_of(evaluation: Evaluation, prefix: str = "test") -> dict[str, float]:
    """Table-1 numbers: ``{prefix}/dice_mean``, ``..._median``, … and ``{prefix}/iou_mean``."""
    out = {f"{prefix}/dice_{k}": v for k, v in summarize(evaluation.dice).items()}
    out[f"{prefix}/iou_mean"] = float(evaluation.iou.mean())
    out[f"{prefix}/loss"] = evaluation.loss
    return out


@torch.no_grad()
def predict_masks(
    model: nn.Module, dataset: Dataset, device: torch.device, count: int, precision: str = "32"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``count`` images as (B, H, W, 3) uint8, their truth and predicted (B, H, W)."""
    samples = [dataset[i] for i in range(min(count, len(dataset)))]
    images, masks = (torch.stack(group) for group in zip(*samples, strict=True))
    x, _ = prepare_batch(images, masks, device)
    model.eval()
    with autocast(device, precision):
        logits = model(x)  # (B, 1, H, W)
    predictions = (logits.float() > 0).squeeze(1).to(torch.uint8).cpu().numpy()
    return images.permute(0, 2, 3, 1).numpy(), masks.squeeze(1).numpy(), predictions
