"""The ``trainer`` config group as a typed object, and the device and loaders it implies."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from pet_seg.distributed import SINGLE_PROCESS, World
from pet_seg.evaluation import PRECISIONS


@dataclass
class TrainerSettings:
    """The ``trainer`` config group; field names are the YAML keys."""

    epochs: int = 50
    batch_size: int = 32  # global: split evenly across ranks under torchrun
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
        self.precision = str(self.precision)  # `trainer.precision=32` arrives as an int
        if self.precision not in PRECISIONS:
            raise ValueError(f"trainer.precision={self.precision!r}: use one of {list(PRECISIONS)}")
        if self.nonfinite not in ("stop", "skip"):
            raise ValueError(f"trainer.nonfinite={self.nonfinite!r}: use 'stop' or 'skip'")
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"trainer.{key} must be >= 1, got {getattr(self, key)}")


def resolve_device(name: str, world: World = SINGLE_PROCESS) -> torch.device:
    """``auto`` → this rank's CUDA device if there is one, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{world.local_rank}" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    settings: TrainerSettings,
    world: World = SINGLE_PROCESS,
    drop_last: bool = False,
) -> DataLoader:
    """A loader whose order is a function of (seed, epoch) via ``sampler.set_epoch``.

    DistributedSampler is also the single-process shuffler, so both share one code path: with
    N ranks each takes every N-th item of the same permutation and a per-rank batch of
    ``batch_size / N``, which makes the global batch the one a single process would see.
    """
    sampler = DistributedSampler(
        dataset, num_replicas=world.size, rank=world.rank, shuffle=shuffle, seed=settings.seed
    )
    return DataLoader(
        dataset,
        batch_size=max(1, batch_size // world.size),
        sampler=sampler,
        num_workers=settings.num_workers,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=settings.num_workers > 0,
    )
