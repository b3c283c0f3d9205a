"""The training loop, top to bottom: loaders → model/optimizer/scheduler → epochs → checkpoints.

Functions take built objects (model, optimizer factory, scheduler spec, datasets, tracker) and a
typed ``TrainerSettings``; only ``pet_seg.run`` reads the Hydra config. Randomness is a function
of ``(seed, epoch)`` — the shuffle order comes from the sampler's ``set_epoch`` and augmentation
is reseeded per epoch — so a run resumed from an epoch's checkpoint continues exactly as an
uninterrupted one would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from pet_seg.augmentation import BatchAugment
from pet_seg.checkpoint import load_checkpoint, save_checkpoint
from pet_seg.evaluation import PRECISIONS, autocast, evaluate
from pet_seg.metrics import dice_from_counts, pixel_counts
from pet_seg.preprocess import prepare_batch
from pet_seg.schedule import SchedulerSpec
from pet_seg.tracking import Tracker

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss and ``trainer.nonfinite=stop``."""


@dataclass
class TrainerSettings:
    """The ``trainer`` config group; field names are the YAML keys."""

    epochs: int = 50
    batch_size: int = 32
    eval_batch_size: int | None = None
    device: str = "auto"
    seed: int = 0
    num_workers: int = 0
    num_threads: int | None = None
    precision: str = "32"
    channels_last: bool = False
    compile: bool = False
    progress: bool = True
    nonfinite: str = "stop"
    resume: bool = False
    sample_every: int = 5  # epochs between W&B mask overlays of validation images (0 = never)
    num_samples: int = 4

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"trainer.precision={self.precision!r}: use one of {list(PRECISIONS)}")
        if self.nonfinite not in ("stop", "skip"):
            raise ValueError(f"trainer.nonfinite={self.nonfinite!r}: use 'stop' or 'skip'")
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"trainer.{key} must be >= 1, got {getattr(self, key)}")


def resolve_device(name: str) -> torch.device:
    """``auto`` → the first CUDA device if there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    num_workers: int,
    drop_last: bool = False,
    device: torch.device | None = None,
) -> DataLoader:
    """A loader whose order is a function of (seed, epoch) via ``sampler.set_epoch``.

    DistributedSampler with one replica is a seeded shuffler that already speaks the DDP
    protocol, so single- and multi-process runs share this code.
    """
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=shuffle, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=device is not None and device.type == "cuda",
        persistent_workers=num_workers > 0,
    )


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    device: torch.device,
    *,
    epoch: int,
    step: int,
    schedule: SchedulerSpec,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    augment: BatchAugment,
    tracker: Tracker,
    settings: TrainerSettings,
) -> tuple[dict[str, float], int]:
    """One pass over the training split; logs every optimizer step, returns epoch means."""
    model.train()
    loss_sum, dice_sum, seen, skipped = 0.0, 0.0, 0, 0
    bar = tqdm(
        loader, desc=f"epoch {epoch}", leave=False, disable=None if settings.progress else True
    )
    for images, masks in bar:
        x, y = prepare_batch(images, masks, device, augment, settings.channels_last)
        with autocast(device, settings.precision):
            logits = model(x)  # (B, 1, H, W)
        loss = criterion(logits.float(), y)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            where = f"epoch {epoch}, step {step + 1}"
            if settings.nonfinite == "stop":
                raise NonFiniteLossError(
                    f"loss is {loss_value} at {where}; stopping (checkpoints/last.pt holds the "
                    "last good epoch). Lower optimizer.lr, use trainer.precision=32, or set "
                    "trainer.nonfinite=skip to drop such batches."
                )
            skipped += 1
            tracker.log(
                {
                    "kind": "warning",
                    "epoch": epoch,
                    "step": step,
                    "message": f"non-finite loss at {where}, batch skipped",
                }
            )
            continue
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.after_batch(scheduler)
        step += 1
        batch_dice = dice_from_counts(pixel_counts(logits.detach().float(), y))  # (B,)
        loss_sum += loss_value * len(x)
        dice_sum += float(batch_dice.sum())
        seen += len(x)
        tracker.log(
            {
                "kind": "step",
                "epoch": epoch,
                "step": step,
                "step/train_loss": loss_value,
                "step/train_dice": float(batch_dice.mean()),
                "step/lr": optimizer.param_groups[0]["lr"],
            }
        )
        bar.set_postfix(loss=f"{loss_value:.4f}")
    if seen == 0:
        raise NonFiniteLossError(f"every batch of epoch {epoch} had a non-finite loss")
    return {
        "train/loss": loss_sum / seen,
        "train/dice": dice_sum / seen,
        "train/skipped": skipped,
        "images": seen,
    }, step


@torch.no_grad()
def log_val_samples(
    model: nn.Module,
    val_set: Dataset,
    device: torch.device,
    tracker: Tracker,
    epoch: int,
    settings: TrainerSettings,
) -> None:
    """The first ``num_samples`` validation images with truth and prediction overlays (W&B)."""
    images, masks = map(
        torch.stack,
        zip(*(val_set[i] for i in range(min(settings.num_samples, len(val_set)))), strict=True),
    )
    x, _ = prepare_batch(images, masks, device, channels_last=settings.channels_last)
    model.eval()
    with autocast(device, settings.precision):
        logits = model(x)  # (B, 1, H, W)
    predictions = (logits.float() > 0).squeeze(1).to(torch.uint8).cpu().numpy()
    tracker.log_masks(
        "val/samples",
        epoch,
        images.permute(0, 2, 3, 1).numpy(),
        masks.squeeze(1).numpy(),
        predictions,
    )


def _restore(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
) -> dict[str, Any]:
    """Load ``last.pt`` into the live objects; return its progress counters."""
    state = load_checkpoint(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    return state["progress"]


def fit(
    model: nn.Module,
    criterion: nn.Module,
    optimizer_factory: OptimizerFactory,
    schedule: SchedulerSpec,
    datasets: Mapping[str, Dataset],
    augment: BatchAugment,
    tracker: Tracker,
    run_dir: Path,
    settings: TrainerSettings,
    extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train for ``settings.epochs``, keeping ``checkpoints/last.pt`` and ``best.pt`` (val Dice).

    ``extras`` (resolved config, W&B run id) go into every checkpoint so evaluation and resume
    need nothing but the file. Returns the training part of the run summary.
    """
    device = resolve_device(settings.device)
    train_set, val_set = datasets["train"], datasets["val"]
    if settings.batch_size > len(train_set):
        raise ValueError(
            f"trainer.batch_size={settings.batch_size} is larger than the training split "
            f"({len(train_set)} images); lower trainer.batch_size or use more data."
        )
    loader_args = dict(seed=settings.seed, num_workers=settings.num_workers, device=device)
    train_loader = make_loader(
        train_set, settings.batch_size, shuffle=True, drop_last=True, **loader_args
    )
    val_loader = make_loader(
        val_set, settings.eval_batch_size or settings.batch_size, shuffle=False, **loader_args
    )

    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    optimizer = optimizer_factory(model.parameters())
    scheduler = schedule.build(optimizer, total_steps=settings.epochs * len(train_loader))
    scaler = torch.amp.GradScaler(
        device.type, enabled=settings.precision == "16-mixed" and device.type == "cuda"
    )
    net = torch.compile(model) if settings.compile else model

    ckpt_dir = Path(run_dir) / "checkpoints"
    progress = {
        "epoch": 0,
        "step": 0,
        "best_val_dice": -1.0,
        "best_epoch": 0,
        "train_time_s": 0.0,
        "train_seconds": 0.0,
        "train_images": 0,
    }
    if settings.resume and (ckpt_dir / "last.pt").is_file():
        progress = _restore(ckpt_dir / "last.pt", model, optimizer, scheduler, scaler)

    for epoch in range(progress["epoch"] + 1, settings.epochs + 1):
        train_loader.sampler.set_epoch(epoch)
        augment.reseed(settings.seed * 100_003 + epoch)
        lr = optimizer.param_groups[0]["lr"]  # the rate this epoch starts with
        started = time.perf_counter()
        train, progress["step"] = train_one_epoch(
            net,
            criterion,
            optimizer,
            train_loader,
            device,
            epoch=epoch,
            step=progress["step"],
            schedule=schedule,
            scheduler=scheduler,
            scaler=scaler,
            augment=augment,
            tracker=tracker,
            settings=settings,
        )
        train_seconds = time.perf_counter() - started
        val = evaluate(
            net, criterion, val_loader, device, settings.precision, settings.channels_last
        )
        record = {
            "kind": "epoch",
            "epoch": epoch,
            "step": progress["step"],
            "lr": lr,
            "train/loss": train["train/loss"],
            "train/dice": train["train/dice"],
            "val/loss": val.loss,
            "val/dice": val.mean_dice,
            "time/epoch_s": time.perf_counter() - started,
            "time/train_images_per_s": train["images"] / train_seconds,
        }
        schedule.after_epoch(scheduler, record)
        tracker.log(record)
        if (
            tracker.wants_images
            and settings.sample_every
            and (epoch % settings.sample_every == 0 or epoch == settings.epochs)
        ):
            log_val_samples(net, val_set, device, tracker, epoch, settings)

        progress.update(
            epoch=epoch,
            train_time_s=progress["train_time_s"] + record["time/epoch_s"],
            train_seconds=progress["train_seconds"] + train_seconds,
            train_images=progress["train_images"] + train["images"],
        )
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
            **dict(extras or {}),
        }
        if val.mean_dice > progress["best_val_dice"]:
            progress.update(best_val_dice=val.mean_dice, best_epoch=epoch)
            save_checkpoint({**state, "progress": dict(progress)}, ckpt_dir / "best.pt")
        save_checkpoint({**state, "progress": dict(progress)}, ckpt_dir / "last.pt")

    return {
        "epochs": progress["epoch"],
        "best/val_dice": progress["best_val_dice"],
        "best/epoch": progress["best_epoch"],
        "train_time_s": progress["train_time_s"],
        "train_images_per_s": progress["train_images"] / max(progress["train_seconds"], 1e-9),
    }


def test_best(
    model: nn.Module,
    criterion: nn.Module,
    test_set: Dataset,
    run_dir: Path,
    settings: TrainerSettings,
) -> Any:
    """Evaluate ``checkpoints/best.pt`` (best validation Dice) on the test split, per image."""
    device = resolve_device(settings.device)
    model.load_state_dict(load_checkpoint(Path(run_dir) / "checkpoints" / "best.pt")["model"])
    model.to(device)
    loader = make_loader(
        test_set,
        settings.eval_batch_size or settings.batch_size,
        shuffle=False,
        seed=settings.seed,
        num_workers=settings.num_workers,
        device=device,
    )
    return evaluate(
        model,
        criterion,
        loader,
        device,
        settings.precision,
        settings.channels_last,
        progress=settings.progress,
        desc="test",
    )
