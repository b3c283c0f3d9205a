"""The machinery a ``TrainerSettings`` implies: the loaders, the optimizer, scheduler and grad
scaler, and the model as trained (DDP, compile), built in one place so training, testing and
the benchmark run the same objects. As in torchvision's reference scripts, the caller builds
them and hands them to the loop."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from pet_seg.distributed import SINGLE_PROCESS, World
from pet_seg.training.schedule import SchedulerSpec, drops_last_batch
from pet_seg.training.settings import TrainerSettings, eval_batch_size

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


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
        multiprocessing_context=worker_context(settings.num_workers),
    )


def worker_context(num_workers: int) -> str | None:
    """How loader workers start: Python's default, except inside a joblib (loky) worker.

    Under ``hydra/launcher=parallel`` each job runs in a loky worker, whose default start
    method is loky's own; loader workers started with it fail (``'Process' object has no
    attribute 'env'``), and so do 'spawn' and 'forkserver', whose children cannot set the
    'loky' method they inherit. 'fork' works: Linux's default outside joblib (before Python 3.14).
    """
    if num_workers == 0 or multiprocessing.get_start_method(allow_none=True) != "loky":
        return None
    if "fork" not in multiprocessing.get_all_start_methods() or sys.platform == "darwin":
        raise RuntimeError(
            f"trainer.num_workers={num_workers} cannot start loader workers inside a "
            "hydra/launcher=parallel job on this platform (they need 'fork'); use "
            "trainer.num_workers=0 or the default launcher."
        )
    return "fork"


@dataclass
class Machinery:
    """What a job builds around the model: device, loaders, optimizer, scheduler, scaler."""

    device: torch.device
    train_loader: DataLoader
    val_loader: DataLoader
    test_loader: DataLoader | None
    optimizer: torch.optim.Optimizer
    schedule: SchedulerSpec  # when the scheduler steps
    scheduler: Any
    scaler: torch.amp.GradScaler
    model: nn.Module  # the bare model: what checkpoints hold
    net: nn.Module  # the model as trained: maybe DDP-wrapped and compiled


def build_machinery(
    model: nn.Module,
    optimizer_factory: OptimizerFactory,
    schedule: SchedulerSpec,
    datasets: Mapping[str, Dataset],
    settings: TrainerSettings,
    device: torch.device,
    world: World = SINGLE_PROCESS,
) -> Machinery:
    """Move the model to its device and build everything whose size depends on the data.

    ``datasets`` holds ``train`` and ``val``, and ``test`` when the job will test.
    """
    if world.distributed and settings.nonfinite == "skip":
        # a rank that skips its backward would leave the others waiting in all-reduce
        raise ValueError("trainer.nonfinite=skip is not supported under torchrun; use 'stop'")
    train_set = datasets["train"]
    if settings.batch_size > len(train_set):
        raise ValueError(
            f"trainer.batch_size={settings.batch_size} is larger than the training split "
            f"({len(train_set)} images); lower trainer.batch_size or use more data."
        )
    per_rank = max(1, settings.batch_size // world.size)  # make_loader's batch
    drop_last = drops_last_batch(-(-len(train_set) // world.size), per_rank)  # shard: ceil
    train_loader = make_loader(
        train_set,
        settings.batch_size,
        shuffle=True,
        settings=settings,
        world=world,
        drop_last=drop_last,
    )
    val_loader, test_loader = (
        make_loader(datasets[split], eval_batch_size(settings), shuffle=False, settings=settings,
                    world=world)
        if split in datasets else None
        for split in ("val", "test")
    )  # fmt: skip
    model.to(
        device=device,
        memory_format=torch.channels_last if settings.channels_last else torch.contiguous_format,
    )
    optimizer = optimizer_factory(model.parameters())
    scheduler = schedule.build(optimizer, total_steps=settings.epochs * len(train_loader))
    scaler = torch.amp.GradScaler(
        device.type, enabled=settings.precision == "16-mixed" and device.type == "cuda"
    )
    net = model
    if world.distributed:
        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if settings.compile:
        net = torch.compile(net)
    return Machinery(
        device, train_loader, val_loader, test_loader, optimizer, schedule, scheduler, scaler,
        model, net,
    )  # fmt: skip
