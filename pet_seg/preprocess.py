"""uint8 batches → model inputs, on the device.

Datasets hand out uint8 tensors so the cache stays small and host→device copies are 4× cheaper;
scaling, augmentation and ImageNet normalisation then run on the batch where the model lives.
Training, evaluation, prediction and the benchmark all share this one path.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Augment = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def normalize(images: Tensor) -> Tensor:
    """(B, 3, H, W) floats in [0, 1] → ImageNet-normalised floats."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def prepare_batch(
    images: Tensor,
    masks: Tensor,
    device: torch.device,
    augment: Augment | None = None,
    channels_last: bool = False,
) -> tuple[Tensor, Tensor]:
    """uint8 (B, 3, H, W) images and (B, 1, H, W) masks → float model input and float target."""
    images = images.to(device, non_blocking=True).float().div_(255)  # (B, 3, H, W) in [0, 1]
    masks = masks.to(device, non_blocking=True).float()  # (B, 1, H, W) in {0, 1}
    if augment is not None:
        images, masks = augment(images, masks)
    images = normalize(images)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, masks
