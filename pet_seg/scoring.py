"""Scoring a split: per-image pixel counts over the whole split, Dice and IoU once per image.

The one owner of scoring: validation, the test of the best checkpoint and
``python -m pet_seg.evaluate`` all come through here and get one ``Scores`` back, at the
model's input size (``score_loader``) or at each picture's original size
(``score_at_original_size``). Everything stays on the device until the split is done, so there
is one host sync per split rather than one ``.item()`` per batch. The reference study's
per-batch averages (``pet_seg.training.conventions``) come from the same pass: batch Dice from
the per-image counts, batch losses as they go by.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pet_seg.distributed import World, gather_rows, sum_across
from pet_seg.metrics import (
    batch_pooled_dice,
    dice_from_counts,
    iou_from_counts,
    pixel_counts,
    summarize,
)
from pet_seg.precision import autocast
from pet_seg.preprocess import prepare_batch
from pet_seg.trained_model import FlipTTA, load_original, predict_logits, resize_logits


@dataclass
class Scores:
    """Mean loss over the split and per-image (N, 3) [intersection, predicted, true] counts.

    ``loss`` is the pixel mean over the split; ``loss_per_batch`` the mean over the loader's
    batches of each batch's mean (the reference's), NaN where it was not measured. ``batch_size``
    is the loader's (global) batch, which ``dice_per_batch`` pools.
    """

    loss: float
    counts: Tensor
    loss_per_batch: float = float("nan")
    batch_size: int | None = None
    dice_epsilon: float | None = None  # None: pet_seg's Dice; 1e-8: the reference's formula

    @property
    def dice(self) -> Tensor:
        """Per-image Dice, (N,)."""
        return dice_from_counts(self.counts, self.dice_epsilon)

    @property
    def dice_per_batch(self) -> Tensor:
        """The reference's Dice: one per batch of pooled pixels, in loader order, (batches,)."""
        if self.batch_size is None:
            raise ValueError("these scores did not record their batch size")
        return batch_pooled_dice(self.counts, self.batch_size, self.dice_epsilon)

    @property
    def iou(self) -> Tensor:
        return iou_from_counts(self.counts)

    @property
    def mean_dice(self) -> float:
        return float(self.dice.mean())


@torch.no_grad()
def score_loader(
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
    observe: Callable[[Tensor, Tensor], None] | None = None,
) -> Scores:
    """Loss (pixel mean over the split, and mean of batch means) and per-image counts.

    ``observe(logits, masks)`` sees every batch in loader order (the extra scores of
    ``pet_seg.extra_scores``); single process only, as it would see one rank's shard.

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
        if observe is not None:
            observe(logits, y)
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
    return Scores(
        loss=float(totals[0] / totals[1]),
        counts=rows.cpu(),
        loss_per_batch=float(totals[2] / totals[3]),
        batch_size=(loader.batch_size or 1) * world.size,
        dice_epsilon=dice_epsilon,
    )


def write_per_image(
    path: Path, names: Sequence[str], scores: Scores, extra: dict[str, list] | None = None
) -> None:
    """One CSV row per image: name, dice, iou, the pixel counts they come from, and ``extra``
    columns (``ExtraScores.columns()``: attributes, trimap-aware and boundary scores)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = extra or {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "dice", "iou", "intersection", "predicted", "true", *extra])
        rows = zip(
            names,
            scores.dice.tolist(),
            scores.iou.tolist(),
            scores.counts.tolist(),
            *extra.values(),
            strict=True,
        )
        for name, dice, iou, (inter, pred, true), *more in rows:
            cells = [f"{v:.6f}" if isinstance(v, float) else v for v in more]
            writer.writerow([name, f"{dice:.6f}", f"{iou:.6f}", inter, pred, true, *cells])


def summary_of(scores: Scores, prefix: str = "test") -> dict[str, float]:
    """Table-1 numbers: ``{prefix}/dice_mean``, ``..._median``, … and ``{prefix}/iou_mean``.

    Where the scores know their loader's batch size, also ``{prefix}/dice_per_batch``: one Dice
    per batch pooling its pixels, the mean over batches, as the reference's script printed it.
    """
    out = {f"{prefix}/dice_{k}": v for k, v in summarize(scores.dice).items()}
    if scores.batch_size is not None:
        out[f"{prefix}/dice_per_batch"] = float(scores.dice_per_batch.mean())
    out[f"{prefix}/iou_mean"] = float(scores.iou.mean())
    out[f"{prefix}/loss"] = scores.loss
    return out


def save_masks(mask_dir: Path, names: Sequence[str], logits: Tensor) -> None:
    """Thresholded predictions as 0/255 PNGs, so scores can be recomputed from files."""
    mask_dir.mkdir(parents=True, exist_ok=True)
    masks = (logits[:, 0] > 0).to(torch.uint8).mul_(255).cpu().numpy()  # (B, H, W)
    for name, mask in zip(names, masks, strict=True):
        Image.fromarray(mask).save(mask_dir / f"{name}.png")


@torch.no_grad()
def score_split(
    model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int, *,
    tta: bool = False, original: bool = False, mask_dir: Path | None = None, progress: bool = True,
    dice_epsilon: float | None = None, observe: Callable[[Tensor, Tensor], None] | None = None,
) -> Scores:  # fmt: skip
    """Per-image counts over a whole dataset, at the model's input size or each image's own.

    At the model's input size (and no masks to save) this is ``score_loader`` itself, TTA as a
    model wrapper, so a checkpoint re-scored here gets its training run's test numbers.
    ``dice_epsilon`` is the run's Dice convention (``conventions.dice_epsilon``).
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    if not original and mask_dir is None:
        net = FlipTTA(model) if tta else model
        criterion = nn.BCEWithLogitsLoss()
        return score_loader(
            net, criterion, loader, device, progress=progress, dice_epsilon=dice_epsilon,
            observe=observe,
        )  # fmt: skip
    return score_at_original_size(
        model, dataset, loader, device, tta=tta, original=original, mask_dir=mask_dir,
        progress=progress, dice_epsilon=dice_epsilon, observe=observe,
    )  # fmt: skip


def _scored_pairs(
    logits: Tensor, masks: Tensor, names: Sequence[str], root: Path, original: bool
) -> list[tuple[Tensor, Tensor, list[str]]]:
    """(logits, target, names) to score: the batch as it is, or one per image at its own size."""
    device = logits.device
    if not original:
        return [(logits, masks.to(device).float(), list(names))]
    pairs = []
    for j, name in enumerate(names):
        mask = torch.from_numpy(load_original(root, name)[1])
        target = mask[None, None].to(device).float()  # (1, 1, H, W)
        pairs.append((resize_logits(logits[j : j + 1], target.shape[-2:]), target, [name]))
    return pairs


@torch.no_grad()
def score_at_original_size(
    model: nn.Module, dataset: Dataset, loader: DataLoader, device: torch.device, *,
    tta: bool, original: bool, mask_dir: Path | None, progress: bool,
    dice_epsilon: float | None, observe: Callable[[Tensor, Tensor], None] | None = None,
) -> Scores:  # fmt: skip
    """Scores (and saved masks) image by image; with ``original``, at each picture's own size.

    Every image then has its own size, so logits are resized and scored one image at a time,
    still without host syncs; the loss is the pixel mean over the whole split.
    """
    criterion = nn.BCEWithLogitsLoss(reduction="sum")
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    pixels, counts, start = 0, [], 0
    for images, masks in tqdm(loader, desc="eval", leave=False, disable=not progress):
        logits = predict_logits(model, images, device, tta)  # (B, 1, S, S)
        names = dataset.names[start : start + len(images)]
        start += len(images)
        for pair_logits, target, pair_names in _scored_pairs(
            logits, masks, names, dataset.root, original
        ):
            loss_sum += criterion(pair_logits, target).double()
            pixels += target.numel()
            counts.append(pixel_counts(pair_logits, target))
            if observe is not None:
                observe(pair_logits, target)
            if mask_dir is not None:
                save_masks(mask_dir, pair_names, pair_logits)
    if pixels == 0:
        raise ValueError("cannot evaluate an empty split")
    return Scores(
        loss=float(loss_sum) / pixels, counts=torch.cat(counts).cpu(), dice_epsilon=dice_epsilon
    )
