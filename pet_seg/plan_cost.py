"""What one job of a sweep costs: its images per split, its model's speed here, the minutes.

The speed takes a few seconds of measurement. The steps are the project's own
(``pet_seg.bench.steps``: ``build_machinery`` + ``train_one_epoch`` for training, ``evaluate`` for
inference) on one random batch of the job's image size, so the estimate covers everything a
real step does except reading data. On a GPU the batch is the job's own; on a CPU, where one
UNet step at 256 px and batch 32 takes a minute, it is ``cpu_probe_batch`` images of at most
``cpu_probe_px`` pixels a side and the time is scaled per image and by pixel count (a CPU's
convolutions cost in proportion to both), so the measurement stays within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from pet_seg.bench.steps import Variant, infer_step, measure, random_batch, train_step
from pet_seg.data.splits import split_counts
from pet_seg.device import resolve_device
from pet_seg.precision import resolve_precision
from pet_seg.training.schedule import trained_per_epoch
from pet_seg.training.settings import TrainerSettings

WARMUP, ROUNDS = 1, 2


@dataclass(frozen=True)
class Speed:
    """Seconds per image, from the fastest of ``ROUNDS`` steps of ``probe_batch`` images."""

    device: str
    probe_batch: int
    probe_px: int
    image_size: int
    train_s_per_image: float
    eval_s_per_image: float

    def describe(self) -> str:
        return (
            f"{1 / self.train_s_per_image:.1f} training / {1 / self.eval_s_per_image:.1f} "
            f"evaluation images/s at {self.image_size} px on {self.device} ({ROUNDS} steps of "
            f"batch {self.probe_batch} at {self.probe_px} px after {WARMUP} warm-up{self._scaled})"
        )

    @property
    def _scaled(self) -> str:
        return "" if self.probe_px == self.image_size else ", scaled by pixel count"


def measure_speed(cfg: DictConfig, cpu_probe_batch: int = 4, cpu_probe_px: int = 128) -> Speed:
    """Time ``cfg``'s model, optimizer and precision on this machine's ``trainer.device``."""
    settings: TrainerSettings = instantiate(cfg.trainer)
    device = resolve_device(settings.device)
    settings.device = str(device)
    size = int(cfg.data.image_size)
    probe, px = settings.batch_size, size
    if device.type != "cuda":
        probe, px = min(probe, cpu_probe_batch), min(size, cpu_probe_px)
    batch = random_batch(probe, px)
    precision, _ = resolve_precision(settings.precision, device)  # the job resolves it alike
    variant = Variant(precision, settings.channels_last)
    optimizer = instantiate(cfg.optimizer)

    def make_model() -> torch.nn.Module:
        return instantiate(cfg.model)

    rates = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.num_threads or threads)  # as the job will run
    try:
        for name, step in (("train", train_step), ("eval", infer_step)):
            result = measure(
                step, make_model, optimizer, [variant], settings, batch, WARMUP, ROUNDS
            )
            rates[name] = result["variants"][variant.name]["images_per_s"]
    finally:
        torch.set_num_threads(threads)
    scale = (size / px) ** 2
    return Speed(str(device), probe, px, size, scale / rates["train"], scale / rates["eval"])


def split_sizes(data: DictConfig) -> dict[str, int] | None:
    """Images per split of a job's ``data`` config (``pet_seg.data.splits.split_counts``)."""
    return split_counts(
        data.get("root"), int(data.get("val_every", 10)), data.get("num_trainval"),
        data.get("num_test"),
    )  # fmt: skip


def estimate_minutes(
    epochs: int, batch_size: int, images: dict[str, int] | None, speed: Speed
) -> float | None:
    """Training images (the last, partial batch included, as the loader keeps it unless it holds
    one image) plus validation every epoch and one test.

    Not counted: building the decoded-image cache (once per dataset and size), start-up, the
    report's sample grids.
    """
    if images is None:
        return None
    train = epochs * trained_per_epoch(images["train"], batch_size)[1]
    evaluated = epochs * images["val"] + images["test"]
    return (train * speed.train_s_per_image + evaluated * speed.eval_s_per_image) / 60
