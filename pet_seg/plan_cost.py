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

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from pet_seg.bench.steps import Variant, infer_step, measure, random_batch, train_step
from pet_seg.device import resolve_device
from pet_seg.training.settings import TrainerSettings

WARMUP, ROUNDS = 1, 2
SPLIT_NAMES = ("train", "val", "test")


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
    variant = Variant(settings.precision, settings.channels_last)
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
    """Images per split, counted from the split files without decoding a picture.

    A synthetic dataset not generated yet is counted from its parameters; an official-layout
    root that is not there gives None (the run itself will stop and say why).
    """
    from hydra.utils import to_absolute_path

    from pet_seg.data.mini import MINI_ROOT
    from pet_seg.data.oxford_pet import DataError, read_split

    root = MINI_ROOT if data.get("root") is None else Path(to_absolute_path(str(data.root)))
    val_every = int(data.get("val_every", 10))
    try:
        return {split: len(read_split(root, split, val_every)) for split in SPLIT_NAMES}
    except DataError:
        if "num_trainval" not in data:
            return None
    val = math.ceil(int(data.num_trainval) / val_every)
    return {"train": int(data.num_trainval) - val, "val": val, "test": int(data.num_test)}


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
    lone = images["train"] % batch_size == 1 and images["train"] > 1  # that image sits out
    train = epochs * (images["train"] - lone)
    evaluated = epochs * images["val"] + images["test"]
    return (train * speed.train_s_per_image + evaluated * speed.eval_s_per_image) / 60
