"""Benchmark helpers: training and inference throughput per precision / memory-format variant.

Every number comes from the project's own code path (``build_machinery`` + ``train_one_epoch``
for a training step, ``evaluate`` for inference), fed one in-memory uint8 batch, so a speed-up
measured here is one a run gets. Variants are timed round-robin, one step each in turn, so a
burst of load from another process slows all of them alike and their ratios stay meaningful on
a shared machine. The input-pipeline comparison lives in ``pet_seg.bench_pipeline``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

from pet_seg.augmentation import BatchAugment
from pet_seg.distributed import SINGLE_PROCESS
from pet_seg.evaluation import PRECISIONS, evaluate
from pet_seg.schedule import SchedulerSpec
from pet_seg.settings import TrainerSettings
from pet_seg.tracking import Tracker
from pet_seg.train import EpochState, OptimizerFactory, build_machinery, train_one_epoch

Step = Callable[[], None]


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
    """Every precision × memory format this device can use, plus fused AdamW on the baseline."""
    names = ["32", "32+cl", "bf16-mixed", "bf16-mixed+cl", "32+fused", "bf16-mixed+fused"]
    if device.type == "cuda":
        names += ["16-mixed", "16-mixed+cl"]
    return names


def sync(device: torch.device) -> None:
    """Wait for queued kernels, so a timer measures work done rather than work launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_round_robin(steps: Mapping[str, Step], device: torch.device, warmup: int, rounds: int):
    """Seconds per call of each step, ``rounds`` times, interleaved; warm-up calls untimed."""
    for step in steps.values():
        for _ in range(warmup):  # allocator, oneDNN primitive cache, cuDNN autotune, compile
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


class PeakMemory:
    """Peak host RSS (and CUDA allocation) inside a ``with`` block.

    ``ru_maxrss`` is a process-lifetime high-water mark; on Linux writing 5 to
    ``/proc/self/clear_refs`` resets it, which makes the peak belong to this block
    (``rss_is_section_peak`` says whether that worked).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.result: dict[str, Any] = {}

    def __enter__(self) -> PeakMemory:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        self.result = {
            "peak_rss_mb": round(kib / (1024**2 if sys.platform == "darwin" else 1024), 1),
            "rss_is_section_peak": self.reset,
        }
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
            self.result["cuda_max_allocated_mb"] = round(peak / 2**20, 1)


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, threads, library versions, accelerator."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((ln.split(":", 1)[1].strip() for ln in handle if "model name" in ln), cpu)
    except OSError:
        pass  # not Linux: keep platform's answer
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": cpu,
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    return info


def random_batch(batch_size: int, image_size: int) -> TensorDataset:
    """One uint8 batch as the loaders deliver it: (B, 3, S, S) images, (B, 1, S, S) masks."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, image_size, image_size), generator=gen)
    masks = torch.randint(0, 2, (batch_size, 1, image_size, image_size), generator=gen)
    return TensorDataset(images.to(torch.uint8), masks.to(torch.uint8))


def build(
    make_model: Callable[[], nn.Module],
    optimizer: OptimizerFactory,
    variant: Variant,
    settings: TrainerSettings,
    batch: TensorDataset,
):
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
    return build_machinery(
        make_model(), factory, SchedulerSpec(), data, settings, SINGLE_PROCESS
    ), settings


def train_step(make_model, optimizer, variant, settings, batch) -> Step:
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


def infer_step(make_model, optimizer, variant, settings, batch) -> Step:
    """A closure running ``evaluate`` (eval mode, no grad, per-image counts) on ``batch``."""
    m, settings = build(make_model, optimizer, variant, settings, batch)
    criterion = nn.BCEWithLogitsLoss()

    def step() -> None:
        evaluate(m.net, criterion, m.val_loader, m.device, variant.precision, variant.channels_last)

    return step


def summarize(times: Mapping[str, list[float]], batch_size: int, baseline: str) -> dict:
    """images/s from the median step (robust to one preempted step) and the ratio to baseline."""
    rows = {
        name: {"images_per_s": batch_size / statistics.median(t), "step_s": t}
        for name, t in times.items()
    }
    for row in rows.values():
        row["vs_baseline"] = row["images_per_s"] / rows[baseline]["images_per_s"]
    return rows


def measure(
    make_step: Callable[..., Step],
    make_model: Callable[[], nn.Module],
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
