"""Batch augmentation: geometry moves image and mask together, jitter touches the image only."""

import torch

from pet_seg.augmentation import BatchAugment
from pet_seg.preprocess import IMAGENET_MEAN, IMAGENET_STD, prepare_batch


def _batch(n: int = 16, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose red channel *is* the mask, so any misaligned flip is visible."""
    masks = (torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    images = torch.cat([masks, torch.full_like(masks, 0.25), torch.full_like(masks, 0.75)], dim=1)
    return images, masks


def test_flips_keep_image_and_mask_aligned_and_are_random_per_sample():
    images, masks = _batch()
    augment = BatchAugment(hflip=0.5, vflip=0.5, brightness=0, contrast=0, saturation=0)
    out_images, out_masks = augment(images, masks)
    assert torch.equal(out_images[:, :1], out_masks)
    changed = [not torch.equal(a, b) for a, b in zip(out_masks, masks, strict=True)]
    assert any(changed) and not all(changed)


def test_flip_probability_one_is_an_exact_flip():
    images, masks = _batch(2)
    out_images, out_masks = BatchAugment(1.0, 0.0, 0, 0, 0)(images, masks)
    assert torch.equal(out_images, images.flip(-1)) and torch.equal(out_masks, masks.flip(-1))


def test_jitter_changes_image_only_and_stays_in_range():
    images, masks = _batch()
    out_images, out_masks = BatchAugment(0, 0, 0.2, 0.2, 0.2)(images, masks)
    assert torch.equal(out_masks, masks)
    assert not torch.equal(out_images, images)
    assert out_images.min() >= 0 and out_images.max() <= 1


def test_brightness_factor_is_within_range():
    images = torch.full((64, 3, 2, 2), 0.5)
    out, _ = BatchAugment(0, 0, 0.2, 0, 0)(images, torch.zeros(64, 1, 2, 2))
    ratio = out[:, 0, 0, 0] / 0.5
    assert ratio.min() >= 0.8 - 1e-6 and ratio.max() <= 1.2 + 1e-6


def test_reseed_reproduces_the_same_augmentation():
    images, masks = _batch()
    augment = BatchAugment()
    augment.reseed(7)
    first = augment(images, masks)
    augment.reseed(7)
    second = augment(images, masks)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_none_arm_is_identity_and_prepare_batch_normalizes():
    images = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    masks = torch.ones(1, 1, 2, 2, dtype=torch.uint8)
    x, y = prepare_batch(images, masks, torch.device("cpu"), BatchAugment(0, 0, 0, 0, 0))
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert torch.allclose(x[0, :, 0, 0], torch.tensor(expected))
    assert y.dtype == torch.float32 and torch.equal(y, torch.ones(1, 1, 2, 2))
