"""The training loop, top to bottom: one epoch → validation → epoch record → best/last checkpoints.

Functions take built objects (the ``Machinery``: model, loaders, optimizer, scheduler, scaler,
device; a tracker; a run folder) and a typed ``TrainerSettings``, as torchvision's reference
scripts do; only ``pet_seg.run`` reads the Hydra config and builds them. Randomness is a
function of ``(seed, epoch)`` — the shuffle order comes from the sampler's ``set_epoch`` and
augmentation is reseeded per epoch — so a run resumed from a checkpoint continues exactly as an
uninterrupted one would. Ctrl-C mid-epoch saves the position inside the epoch, too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pet_seg.augmentation import BatchAugment
from pet_seg.checkpoint import RunCheckpoints, load_checkpoint
from pet_seg.distributed import SINGLE_PROCESS, World, sum_across
from pet_seg.metrics import dice_from_counts, pixel_counts
from pet_seg.precision import autocast
from pet_seg.preprocess import prepare_batch
from pet_seg.run_folder import RunFolder
from pet_seg.run_log import EpochLines
from pet_seg.scoring import Scores, score_loader
from pet_seg.tracking import Tracker
from pet_seg.trained_model import predict_masks
from pet_seg.training.conventions import PET_SEG, Conventions
from pet_seg.training.machinery import Machinery
from pet_seg.training.schedule import SchedulerSpec
from pet_seg.training.settings import TrainerSettings


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss and ``trainer.nonfinite=stop``."""


@dataclass
class EpochState:
    """Running sums of one training epoch; saved on Ctrl-C so the epoch can be finished later."""

    start_step: int = 0  # global optimizer step when the epoch began
    start_lr: float | None = None  # the rate the epoch began with (a per-step schedule moves it)
    steps: int = 0
    batches: int = 0
    loss_sum: float = 0.0  # Σ batch-mean loss x images: the pixel mean's numerator
    dice_sum: float = 0.0  # Σ per-image Dice
    seen: int = 0
    batch_loss_sum: float = 0.0  # Σ batch-mean loss, over ``steps`` batches (the reference's)
    batch_dice_sum: float = 0.0  # Σ pooled-per-batch Dice (the reference's)
    skipped: int = 0
    augment_rng: torch.Tensor | None = field(default=None, repr=False)


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    device: torch.device,
    *,
    epoch: int,
    state: EpochState,
    schedule: SchedulerSpec,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    augment: BatchAugment,
    tracker: Tracker,
    settings: TrainerSettings,
    conventions: Conventions = PET_SEG,
) -> None:
    """One pass over the training split from batch ``state.batches`` on, accumulating ``state``."""
    model.train()
    bar = tqdm(
        loader, desc=f"epoch {epoch}", leave=False, disable=None if settings.progress else True
    )
    for index, (images, masks) in enumerate(bar):
        if index < state.batches:  # finished before an interruption
            continue
        x, y = prepare_batch(images, masks, device, augment, settings.channels_last)
        with autocast(device, settings.precision):
            logits = model(x)  # (B, 1, H, W)
        loss = criterion(logits.float(), y)
        loss_value = loss.item()
        state.batches += 1
        step = state.start_step + state.steps
        if not math.isfinite(loss_value):
            where = f"epoch {epoch}, step {step + 1}"
            if settings.nonfinite == "stop":
                raise NonFiniteLossError(
                    f"loss is {loss_value} at {where}; stopping. Lower optimizer.lr, use "
                    "trainer.precision=32, or set trainer.nonfinite=skip to drop such batches."
                )
            state.skipped += 1
            tracker.log(
                {
                    "kind": "warning",
                    "epoch": epoch,
                    "step": step,
                    "message": f"non-finite loss at {where}; batch skipped",
                }
            )
            continue
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.after_batch(scheduler)
        state.steps += 1
        step += 1
        counts = pixel_counts(logits.detach().float(), y)  # (B, 3)
        batch_dice = dice_from_counts(counts, conventions.dice_epsilon)  # (B,) per image
        pooled_dice = float(dice_from_counts(counts.sum(0, keepdim=True), conventions.dice_epsilon))
        state.loss_sum += loss_value * len(x)
        state.dice_sum += float(batch_dice.sum())
        state.seen += len(x)
        state.batch_loss_sum += loss_value
        state.batch_dice_sum += pooled_dice
        tracker.log(
            {
                "kind": "step",
                "epoch": epoch,
                "step": step,
                "step/train_loss": loss_value,
                "step/train_dice": float(batch_dice.mean()),
                "step/train_dice_per_batch": pooled_dice,
                "step/lr": optimizer.param_groups[0]["lr"],
            }
        )
        bar.set_postfix(loss=f"{loss_value:.4f}")


@dataclass
class Progress:
    """Where a run stands after its last finished epoch; saved in both checkpoints.

    ``best_score`` is the validation Dice that ``conventions.val_dice`` names (what picks
    ``best.pt``); ``best_val_dice`` is the per-image one at that epoch, whatever picked it.
    """

    epoch: int = 0
    step: int = 0
    best_score: float = -1.0
    best_val_dice: float = -1.0
    best_val_dice_per_batch: float | None = None
    best_epoch: int = 0
    train_time_s: float = 0.0  # epochs' wall time, validation included
    train_seconds: float = 0.0  # training passes only: the images/s denominator
    train_images: int = 0

    @classmethod
    def from_checkpoint(cls, saved: Mapping[str, Any]) -> Progress:
        """A checkpoint's progress; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})


def fit(
    m: Machinery,
    criterion: nn.Module,
    augment: BatchAugment,
    tracker: Tracker,
    run: RunFolder,
    settings: TrainerSettings,
    extras: Mapping[str, Any] | None = None,
    world: World = SINGLE_PROCESS,
    conventions: Conventions = PET_SEG,
) -> dict[str, Any]:
    """Train for ``settings.epochs``, keeping ``best.pt`` (by validation Dice) and ``last.pt``.

    ``conventions.val_dice`` names the validation Dice that picks ``best.pt``. ``extras``
    (resolved config, W&B run id) go into every checkpoint so evaluation and resume need
    nothing but the file. Returns the training part of the run summary.
    """
    checkpoints = RunCheckpoints(
        run, m.model, m.optimizer, m.scheduler, m.scaler, extras=dict(extras or {}),
        save_last_every=settings.save_last_every, writes=world.is_main,
    )  # fmt: skip
    progress, partial = resume_point(checkpoints, tracker, settings)
    lines = EpochLines.of_run(run, settings, conventions, world)
    for epoch in range(progress.epoch + 1, settings.epochs + 1):
        state, partial = partial or new_epoch(m, progress), None
        started = time.perf_counter()
        run_epoch(m, criterion, augment, tracker, settings, world, conventions, epoch, state,
                  progress, checkpoints)  # fmt: skip
        train_seconds = time.perf_counter() - started
        val = score_loader(
            m.net, criterion, m.val_loader, m.device, settings.precision,
            settings.channels_last, world=world, dice_epsilon=conventions.dice_epsilon,
        )  # fmt: skip
        record, seen = epoch_record(
            epoch, state, val, m, world, started, train_seconds, checkpoints
        )
        m.schedule.after_epoch(m.scheduler, record)
        tracker.log(record)
        lines.epoch(record)
        log_samples(m, tracker, settings, epoch)
        progress.epoch, progress.step = epoch, record["step"]
        progress.train_time_s += record["time/epoch_s"]
        progress.train_seconds += train_seconds
        progress.train_images += seen
        keep_checkpoints(checkpoints, progress, record, conventions, settings)
    return training_summary(progress, conventions)


def resume_point(
    checkpoints: RunCheckpoints, tracker: Tracker, settings: TrainerSettings
) -> tuple[Progress, EpochState | None]:
    """Where training starts: from scratch, or (``trainer.resume``) from ``last.pt``."""
    if not settings.resume:
        return Progress(), None
    restored, unfinished = checkpoints.restore()
    progress = Progress.from_checkpoint(restored) if restored else Progress()
    tracker.truncate_after(progress.step)  # forget what was logged after the checkpoint
    return progress, EpochState(**unfinished) if unfinished else None


def new_epoch(m: Machinery, progress: Progress) -> EpochState:
    """A fresh epoch's sums, remembering the rate it begins with (a per-step schedule moves it)."""
    return EpochState(start_step=progress.step, start_lr=m.optimizer.param_groups[0]["lr"])


def run_epoch(
    m: Machinery, criterion: nn.Module, augment: BatchAugment, tracker: Tracker,
    settings: TrainerSettings, world: World, conventions: Conventions, epoch: int,
    state: EpochState, progress: Progress, checkpoints: RunCheckpoints,
) -> None:  # fmt: skip
    """One training pass, its randomness a function of (seed, epoch, rank).

    Ctrl-C saves the position inside the epoch in ``last.pt``; a NaN says what a resume would
    start from.
    """
    m.train_loader.sampler.set_epoch(epoch)
    if state.augment_rng is None:  # a fresh epoch: its own augmentation stream, per rank
        augment.reseed((settings.seed * 100_003 + epoch) * 64 + world.rank)
    else:
        augment.generator.set_state(state.augment_rng)
    try:
        train_one_epoch(
            m.net, criterion, m.optimizer, m.train_loader, m.device, epoch=epoch, state=state,
            schedule=m.schedule, scheduler=m.scheduler, scaler=m.scaler, augment=augment,
            tracker=tracker, settings=settings, conventions=conventions,
        )  # fmt: skip
    except KeyboardInterrupt:  # keep the position inside the epoch, then stop
        state.augment_rng = augment.generator.get_state()
        progress.step = state.start_step + state.steps
        checkpoints.save_last(asdict(progress), partial=asdict(state))
        raise
    except NonFiniteLossError as err:  # say what a resume would start from
        raise NonFiniteLossError(f"{err} {checkpoints.kept(epoch)}") from None


def epoch_record(
    epoch: int, state: EpochState, val: Scores, m: Machinery, world: World, started: float,
    train_seconds: float, checkpoints: RunCheckpoints,
) -> tuple[dict[str, Any], int]:  # fmt: skip
    """The epoch's line of ``metrics.jsonl`` (training sums over every rank, validation scores)
    and how many images trained."""
    sums = [state.loss_sum, state.dice_sum, state.seen, state.batch_loss_sum]
    sums += [state.batch_dice_sum, state.steps]
    loss_sum, dice_sum, seen, batch_loss_sum, batch_dice_sum, batches = sum_across(
        torch.tensor(sums, dtype=torch.float64, device=m.device), world
    ).tolist()
    if seen == 0:
        raise NonFiniteLossError(
            f"every batch of epoch {epoch} had a non-finite loss. {checkpoints.kept(epoch)}"
        )
    record = {
        "kind": "epoch",
        "epoch": epoch,
        "step": state.start_step + state.steps,
        "lr": state.start_lr,
        "train/loss": loss_sum / seen,
        "train/dice": dice_sum / seen,
        "train/loss_per_batch": batch_loss_sum / batches,
        "train/dice_per_batch": batch_dice_sum / batches,
        "val/loss": val.loss,
        "val/dice": val.mean_dice,
        "val/loss_per_batch": val.loss_per_batch,
        "val/dice_per_batch": float(val.dice_per_batch.mean()),
        "time/epoch_s": time.perf_counter() - started,
        "time/train_images_per_s": seen / train_seconds,
    }
    return record, int(seen)


def log_samples(m: Machinery, tracker: Tracker, settings: TrainerSettings, epoch: int) -> None:
    """Validation images with predicted masks in W&B, every ``sample_every`` epochs and last."""
    every = settings.sample_every
    if tracker.wants_images and every and (epoch % every == 0 or epoch == settings.epochs):
        val_set = m.val_loader.dataset
        samples = predict_masks(m.net, val_set, m.device, settings.num_samples, settings.precision)
        tracker.log_masks("val/samples", epoch, *samples)


def keep_checkpoints(
    checkpoints: RunCheckpoints, progress: Progress, record: Mapping[str, Any],
    conventions: Conventions, settings: TrainerSettings,
) -> None:  # fmt: skip
    """``best.pt`` when the chosen validation Dice improved, ``last.pt`` when it is due."""
    score = record[conventions.val_dice]
    if score > progress.best_score:
        progress.best_score, progress.best_epoch = score, progress.epoch
        progress.best_val_dice = record["val/dice"]
        progress.best_val_dice_per_batch = record["val/dice_per_batch"]
        checkpoints.save_best(asdict(progress))
    if checkpoints.last_due(progress.epoch, settings.epochs):
        checkpoints.save_last(asdict(progress))


def training_summary(progress: Progress, conventions: Conventions) -> dict[str, Any]:
    """The training part of ``summary.json``."""
    return {
        "epochs": progress.epoch,
        "best/val_dice": progress.best_val_dice,  # per image, whatever picked the epoch
        "best/val_dice_per_batch": progress.best_val_dice_per_batch,
        "best/epoch": progress.best_epoch,
        "best/selected_by": conventions.val_dice,
        **conventions.as_summary(),
        "train_time_s": progress.train_time_s,
        "train_images_per_s": progress.train_images / max(progress.train_seconds, 1e-9),
    }


def test_best(
    model: nn.Module,
    criterion: nn.Module,
    loader: DataLoader,
    device: torch.device,
    run: RunFolder,
    settings: TrainerSettings,
    world: World = SINGLE_PROCESS,
    conventions: Conventions = PET_SEG,
    observe: Callable[..., None] | None = None,  # sees each batch (pet_seg.extra_scores)
) -> Scores:
    """The test split's per-image scores of ``best.pt`` (the best validation Dice)."""
    model.load_state_dict(load_checkpoint(run.best)["model"])
    model.to(device)
    return score_loader(
        model, criterion, loader, device, settings.precision, settings.channels_last,
        progress=settings.progress, desc="test", world=world,
        dice_epsilon=conventions.dice_epsilon, observe=observe,
    )  # fmt: skip
