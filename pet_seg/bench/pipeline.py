"""Input-pipeline benchmark: the report's per-sample PIL/torchvision loader vs the decoded cache.

Both arms deliver the same thing, an augmented, normalised float batch on the device, from the
same files on disk, so images/s compare like for like:

* seed style — ``PetSegmentation`` decodes and resizes every JPEG/PNG on every access, then
  torchvision flips and ``ColorJitter`` run per sample in the loader, as a classic torchvision
  pipeline does;
* cached — ``CachedPetSegmentation`` slices uint8 arrays decoded once, and ``prepare_batch``
  applies ``BatchAugment`` to the whole batch on the device.

The one-off cache build is timed on its own, into a fresh folder, so it is never hidden by a
cache left over from an earlier run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision.transforms.functional as TF
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from pet_seg.augmentation import BatchAugment
from pet_seg.bench.machine import PeakMemory, sync
from pet_seg.data import CachedPetSegmentation, PetSegmentation, build_cache, ensure_synthetic
from pet_seg.preprocess import IMAGENET_MEAN, IMAGENET_STD, prepare_batch

RAW_SIZE = (300, 500)  # smallest / largest side of the generated photos, like the real ones


class SeedStyle(Dataset):
    """Per-sample augmentation in the loader, the way the report's torchvision pipeline did it."""

    def __init__(self, base: Dataset) -> None:
        self.base = base
        self.jitter = transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, mask = self.base[index]  # decoded + resized now: (3, S, S), (1, S, S) uint8
        image = image.float().div(255)
        if torch.rand(()) < 0.5:  # flips move image and mask together
            image, mask = TF.hflip(image), TF.hflip(mask)
        if torch.rand(()) < 0.5:
            image, mask = TF.vflip(image), TF.vflip(mask)
        image = TF.normalize(self.jitter(image), IMAGENET_MEAN, IMAGENET_STD)
        return image, mask.float()


def trainval_for(images: int) -> int:
    """Smallest trainval count whose train split (9 of every 10 lines) holds ``images``."""
    return images + -(-images // 9)


def seed_pass(loader: DataLoader, device: torch.device) -> None:
    for images, masks in loader:
        images, masks = images.to(device), masks.to(device)  # (B, 3, S, S) float, normalised


def cached_pass(loader: DataLoader, device: torch.device, augment: BatchAugment) -> None:
    for images, masks in loader:
        prepare_batch(images, masks, device, augment)  # (B, 3, S, S) float, normalised


def timed(run: Callable[[], None], device: torch.device) -> float:
    """Seconds of one full pass, waiting for the device at the end."""
    start = time.perf_counter()
    run()
    sync(device)
    return time.perf_counter() - start


def bench_pipeline(
    root: Path, images: int, image_size: int, batch_size: int, device: torch.device, passes: int
) -> dict[str, Any]:
    """images/s of both arms (best of ``passes`` interleaved passes) and the cache build time."""
    with PeakMemory(device) as memory:
        ensure_synthetic(root, trainval_for(images), 0, seed=0, min_size=RAW_SIZE[0],
                         max_size=RAW_SIZE[1])  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="pet_seg-bench-cache-") as cache_dir:
            start = time.perf_counter()
            build_cache(root, "train", image_size, cache_dir=cache_dir)
            build_s = time.perf_counter() - start
            cached_set = CachedPetSegmentation(root, "train", image_size, cache_dir=cache_dir)
            seed_set = SeedStyle(PetSegmentation(root, "train", image_size))
            seed_loader = DataLoader(seed_set, batch_size=batch_size)
            cached_loader = DataLoader(cached_set, batch_size=batch_size)
            augment = BatchAugment()
            arms: dict[str, list[float]] = {"seed_style": [], "cached": []}
            for _ in range(passes):  # interleaved, so load from elsewhere hits both arms
                arms["seed_style"].append(timed(lambda: seed_pass(seed_loader, device), device))
                arms["cached"].append(
                    timed(lambda: cached_pass(cached_loader, device, augment), device)
                )
    n = len(cached_set)
    rows = {name: {"images_per_s": n / min(t), "pass_s": t} for name, t in arms.items()}
    return {
        "images": n,
        "raw_size": list(RAW_SIZE),
        "cache_build_s": build_s,
        "cache_build_images_per_s": n / build_s,
        **rows,
        "speedup": rows["cached"]["images_per_s"] / rows["seed_style"]["images_per_s"],
        **memory.result,
    }
