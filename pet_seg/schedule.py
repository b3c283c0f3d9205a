"""When and how a learning-rate scheduler is stepped, as data rather than name checks.

The report steps OneCycleLR per batch, CosineAnnealingLR per epoch and ReduceLROnPlateau per
epoch on the validation loss. Each ``conf/scheduler/*.yaml`` says which through ``interval`` and
``monitor``, so a new scheduler is a new YAML file, not a new branch in the training loop.
"""

from __future__ import annotations

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
