"""Benchmark helpers: training and inference throughput per precision / memory-format variant.

Every number comes from the project's own code path (``build_machinery`` + ``train_one_epoch``
for a training step, ``evaluate`` for inference), fed one in-memory uint8 batch, so a speed-up
measured here is one a run gets. Variants are timed round-robin, one step each in turn, so a
burst of load from another process slows all of them alike and their ratios stay meaningful on
a shared machine. The input-pipeline comparison lives in ``pet_seg.bench.pipeline``, machine
info and peak memory in ``pet_seg.bench.machine``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

from pet_seg.augmentation import BatchAugment
from pet_seg.bench.machine import PeakMemory, sync
from pet_seg.precision import PRECISIONS
from pet_seg.scoring import score_loader
from pet_seg.tracking import Tracker
from pet_seg.training.loop import EpochState, train_one_epoch
from pet_seg.training.machinery import Machinery, OptimizerFactory, build_machinery
from pet_seg.training.schedule import SchedulerSpec
from pet_seg.training.settings import TrainerSettings

Step = Callable[[], None]
ModelFactory = Callable[[], nn.Module]


@dataclass(frozen=True)
class Variant:
    """One way to run the same model: autocast precision, memory format, fused optimizer."""

    precision: str = "32"
    channels_last: bool = False
    fused: bool = False  # the optimizer's single-kernel update (torch >= 2.4 on CPU)
    compile: bool = False

    @property
    def name(self) -> str:
        flags = [("cl", self.channels_last), ("fused", self.fused), ("compile", self.compile)]
        return "+".join([self.precision, *(flag for flag, on in flags if on)])

    @classmethod
    def parse(cls, name: str) -> Variant:
        """``"bf16-mixed+cl+fused"`` → Variant; the inverse of ``name``."""
        precision, *flags = name.split("+")
        unknown = set(flags) - {"cl", "fused", "compile"}
        if precision not in PRECISIONS or unknown:
            raise ValueError(
                f"variant {name!r}: use <precision>[+cl][+fused][+compile] with precision in "
                f"{list(PRECISIONS)}"
            )
        return cls(precision, "cl" in flags, "fused" in flags, "compile" in flags)


BASELINE = Variant()  # the report's setup: fp32, NCHW, for-loop AdamW, eager


def default_variants(device: torch.device) -> list[str]:
    """Precision × memory format, plus the fused optimizer on top of bf16."""
    precisions = ["32", "bf16-mixed", *(["16-mixed"] if device.type == "cuda" else [])]
    names = [f"{precision}{cl}" for precision in precisions for cl in ("", "+cl")]
    return [*names, "bf16-mixed+fused", "bf16-mixed+cl+fused"]


def for_inference(variants: list[Variant]) -> list[Variant]:
    """The distinct variants once the optimizer is out of the picture."""
    return list(dict.fromkeys(dataclasses.replace(v, fused=False) for v in variants))


def time_round_robin(
    steps: Mapping[str, Step], device: torch.device, warmup: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Wall and process-CPU seconds per call of each step, interleaved; warm-up calls untimed.

    CPU time is the steadier number on a shared machine: time spent descheduled while other
    processes run is not in it (with one thread; with several it includes barrier spinning).
    """
    times = {name: {"wall_s": [], "cpu_s": [], "warmup_wall_s": []} for name in steps}
    for name, step in steps.items():
        for _ in range(warmup):  # allocator, oneDNN primitive cache, cuDNN autotune, compile
            wall = time.perf_counter()
            step()
            sync(device)
            times[name]["warmup_wall_s"].append(time.perf_counter() - wall)
    for _ in range(rounds):
        for name, step in steps.items():
            sync(device)
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            sync(device)
            times[name]["cpu_s"].append(time.process_time() - cpu)
            times[name]["wall_s"].append(time.perf_counter() - wall)
    return times


def random_batch(batch_size: int, image_size: int) -> TensorDataset:
    """One uint8 batch as the loaders deliver it: (B, 3, S, S) images, (B, 1, S, S) masks."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, image_size, image_size), generator=gen)
    masks = torch.randint(0, 2, (batch_size, 1, image_size, image_size), generator=gen)
    return TensorDataset(images.to(torch.uint8), masks.to(torch.uint8))


def build(
    make_model: ModelFactory,
    optimizer: OptimizerFactory,
    variant: Variant,
    settings: TrainerSettings,
    batch: TensorDataset,
) -> tuple[Machinery, TrainerSettings]:
    """Model, loaders, optimizer and scaler exactly as ``fit`` builds them for ``variant``."""
    settings = dataclasses.replace(
        settings,
        precision=variant.precision,
        channels_last=variant.channels_last,
        compile=variant.compile,
        batch_size=len(batch),
        num_workers=0,
        progress=False,
    )
    torch.manual_seed(0)  # same initial weights for every variant
    factory = functools.partial(optimizer, fused=variant.fused)
    data = {"train": batch, "val": batch}
    device = torch.device(settings.device)
    return build_machinery(make_model(), factory, SchedulerSpec(), data, settings, device), settings


def train_step(
    make_model: ModelFactory,
    optimizer: OptimizerFactory,
    variant: Variant,
    settings: TrainerSettings,
    batch: TensorDataset,
) -> Step:
    """A closure doing one optimizer step of the real training loop on ``batch``."""
    m, settings = build(make_model, optimizer, variant, settings, batch)
    criterion, augment, tracker = nn.BCEWithLogitsLoss(), BatchAugment(), Tracker(None)

    def step() -> None:
        train_one_epoch(
            m.net, criterion, m.optimizer, m.train_loader, m.device, epoch=1,
            state=EpochState(), schedule=SchedulerSpec(), scheduler=m.scheduler,
            scaler=m.scaler, augment=augment, tracker=tracker, settings=settings,
        )  # fmt: skip

    return step


def infer_step(
    make_model: ModelFactory,
    optimizer: OptimizerFactory,
    variant: Variant,
    settings: TrainerSettings,
    batch: TensorDataset,
) -> Step:
    """A closure running ``score_loader`` (eval mode, no grad, per-image counts) on ``batch``."""
    m, settings = build(make_model, optimizer, variant, settings, batch)
    criterion = nn.BCEWithLogitsLoss()

    def step() -> None:
        score_loader(
            m.net, criterion, m.val_loader, m.device, variant.precision, variant.channels_last
        )

    return step


def summarize(
    times: Mapping[str, Mapping[str, list[float]]], batch_size: int, baseline: str
) -> dict[str, dict[str, Any]]:
    """images/s from each variant's fastest step (other processes only ever add time), and
    the ratio to the baseline in wall time and in CPU time."""
    rows = {}
    for name, t in times.items():
        wall, cpu = min(t["wall_s"]), min(t["cpu_s"])
        base_wall, base_cpu = min(times[baseline]["wall_s"]), min(times[baseline]["cpu_s"])
        rows[name] = {
            "images_per_s": batch_size / wall,
            "vs_baseline": base_wall / wall,
            "cpu_vs_baseline": base_cpu / cpu,
            **t,
        }
    return rows


def measure(
    make_step: Callable[..., Step],
    make_model: ModelFactory,
    optimizer: OptimizerFactory,
    variants: list[Variant],
    settings: TrainerSettings,
    batch: TensorDataset,
    warmup: int,
    rounds: int,
) -> dict[str, Any]:
    """images/s per variant (first = baseline) for one model, with the section's peak memory."""
    device = torch.device(settings.device)
    with PeakMemory(device) as memory:
        steps = {v.name: make_step(make_model, optimizer, v, settings, batch) for v in variants}
        times = time_round_robin(steps, device, warmup, rounds)
    return {"variants": summarize(times, len(batch), variants[0].name), **memory.result}
