"""When and how a learning-rate scheduler is stepped, as data rather than name checks.

The reference steps OneCycleLR per batch, CosineAnnealingLR per epoch and ReduceLROnPlateau per
epoch on the validation loss. Each ``conf/scheduler/*.yaml`` says which through ``interval`` and
``monitor``, so a new scheduler is a new YAML file, not a new branch in the training loop.

How many optimizer steps and images an epoch has is decided here too, once
(``lone_last_image``): the loader's ``drop_last``, a per-step schedule's ``total_steps`` (epochs x
``len(train_loader)``) and the plan's cost estimate all follow from it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch.optim import Optimizer

SchedulerFactory = Callable[..., Any]


@dataclass
class SchedulerSpec:
    """A scheduler factory (``_partial_``) plus when to step it.

    ``interval="step"`` schedulers get ``total_steps`` at build time (the number of optimizer
    steps in the run is only known once the data loader exists); ``monitor`` names the metric
    handed to ``step()`` at epoch end (e.g. ``val/loss`` for ReduceLROnPlateau).
    """

    factory: SchedulerFactory | None = None
    interval: str = "epoch"
    monitor: str | None = None

    def __post_init__(self) -> None:
        if self.interval not in ("epoch", "step"):
            raise ValueError(f"scheduler.interval must be 'epoch' or 'step', got {self.interval!r}")

    def build(self, optimizer: Optimizer, total_steps: int) -> Any | None:
        if self.factory is None:
            return None
        if self.interval == "step":
            return self.factory(optimizer, total_steps=total_steps)
        return self.factory(optimizer)

    def after_batch(self, scheduler: Any | None) -> None:
        if scheduler is not None and self.interval == "step":
            scheduler.step()

    def after_epoch(self, scheduler: Any | None, metrics: Mapping[str, float]) -> None:
        if scheduler is None or self.interval != "epoch":
            return
        if self.monitor is None:
            scheduler.step()
            return
        if self.monitor not in metrics:
            raise KeyError(
                f"scheduler.monitor={self.monitor!r} is not an epoch metric; "
                f"choose one of {sorted(metrics)}"
            )
        scheduler.step(metrics[self.monitor])


def lone_last_image(num_images: int, batch_size: int) -> bool:
    """Whether the last training batch would hold a single image (and is therefore dropped).

    The reference keeps the last, partial batch (PyTorch's default ``drop_last=False``) and so
    do we, except a batch of a single image: BatchNorm would normalise with one image's
    statistics (and feed them into its running averages), and where a deep encoder's feature map
    shrinks to 1x1 PyTorch refuses outright ("Expected more than 1 value per channel when
    training"). ``num_images`` is this process's share.
    """
    return num_images % batch_size == 1 and num_images > 1


def drops_last_batch(num_images: int, batch_size: int) -> bool:
    """``lone_last_image`` for the loader, with a warning that says what happens to that image."""
    if not lone_last_image(num_images, batch_size):
        return False
    warnings.warn(
        f"{num_images} training images in batches of {batch_size} leave a last batch of one "
        "image, which BatchNorm cannot train on; that batch is dropped each epoch. To train on "
        f"every image, use trainer.batch_size={_nearest_whole_batch(num_images, batch_size)}",
        stacklevel=2,
    )
    return True


def trained_per_epoch(num_images: int, batch_size: int) -> tuple[int, int]:
    """(optimizer steps, images trained) per epoch: ``len(train_loader)`` without building one."""
    lone = lone_last_image(num_images, batch_size)
    return math.ceil((num_images - lone) / batch_size), num_images - lone


def _nearest_whole_batch(num_images: int, batch_size: int) -> int:
    """The batch size nearest ``batch_size`` that leaves no lone image (2 at least)."""
    sizes = sorted(range(2, 2 * batch_size + 2), key=lambda size: abs(size - batch_size))
    return next(size for size in sizes if num_images % size != 1)
