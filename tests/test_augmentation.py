"""Batch augmentation: geometry moves image and mask together, jitter touches the image only
(except in the option that reproduces the report's code, which jitters masks too)."""

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from pet_seg.augmentation import BatchAugment, ReferenceBatchAugment, jitter_like_reference
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


# The report's code's jitter (augmentation=flip_jitter_reference): uint8 steps, random order, masks.


def _two_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    """A gray uint8 image of two pixels (250 and 50) and the mask [1, 0]."""
    image = torch.tensor([250, 50], dtype=torch.uint8).view(1, 1, 2).repeat(3, 1, 1)
    return image, torch.tensor([1.0, 0.0]).view(1, 1, 2)


def test_report_jitter_order_matters_and_is_requantised_by_hand():
    image, mask = _two_pixels()
    # brightness 1.2 then contrast 0.5: 250 → 255 (clamped), 50 → 60; the gray of (255, 60)
    # floors to (254, 59), mean 156.5; 0.5·255 + 0.5·156.5 = 205.75 → 205, 0.5·60 + 78.25 → 108.
    # The mask: [1.2 → 1, 0], mean 0.5 → [0.75, 0.25].
    out, soft = jitter_like_reference(image, mask, [(0, 1.2), (1, 0.5)])
    assert out[:, 0, :].tolist() == [[205, 108]] * 3
    assert soft.flatten().tolist() == pytest.approx([0.75, 0.25])
    # contrast 0.5 first: grays 249 and 49, mean 149; 0.5·250 + 74.5 = 199.5 → 199, 99.5 → 99;
    # then brightness 1.2: 238.8 → 238, 118.8 → 118. Mask: [0.75, 0.25] then [0.9, 0.3].
    out, soft = jitter_like_reference(image, mask, [(1, 0.5), (0, 1.2)])
    assert out[:, 0, :].tolist() == [[238, 118]] * 3
    assert soft.flatten().tolist() == pytest.approx([0.9, 0.3])
    # saturation leaves a one-channel mask alone; jitter_mask=False leaves it binary
    assert torch.equal(jitter_like_reference(image, mask, [(2, 0.5)])[1], mask)
    assert torch.equal(jitter_like_reference(image, mask, [(0, 0.8)], jitter_mask=False)[1], mask)


def test_report_jitter_matches_torchvision_colorjitter_on_image_and_mask():
    """The quirk itself: v2.ColorJitter on (image, mask) as two images jitters both alike."""
    jitter = v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2)
    g = torch.Generator().manual_seed(3)
    for seed in range(8):
        image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8, generator=g)
        mask = (torch.rand(1, 8, 8, generator=g) > 0.5).float()
        torch.manual_seed(seed)
        expected = jitter(tv_tensors.Image(image), tv_tensors.Image(mask))
        torch.manual_seed(seed)  # the same draws again, as parameters
        params = jitter.make_params([image])
        steps = [
            (int(k), params[name])
            for k in params["fn_idx"].tolist()
            if k < 3 and params[(name := ("brightness", "contrast", "saturation")[k] + "_factor")]
        ]
        out = jitter_like_reference(image, mask, steps)
        assert torch.equal(out[0], expected[0].as_subclass(torch.Tensor))
        assert torch.equal(out[1], expected[1].as_subclass(torch.Tensor))


def test_report_option_makes_soft_masks_and_the_default_keeps_them_binary():
    g = torch.Generator().manual_seed(0)
    masks = (torch.rand(200, 1, 8, 8, generator=g) > 0.6).float()
    images = torch.randint(0, 256, (200, 3, 8, 8), generator=g).float() / 255
    _, binary = BatchAugment(0.5, 0.5, 0.2, 0.2, 0.2)(images, masks)
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    out_images, soft = ReferenceBatchAugment(0, 0, 0.2, 0.2, 0.2)(images, masks)  # no flips
    is_soft = ((soft > 0) & (soft < 1)).flatten(1).any(1)  # (B,)
    # soft unless both factors ≥ 1 (the clamp restores 0/1): about 70 % of masks
    assert 0.55 < is_soft.float().mean() < 0.85
    # brightness/contrast within 0.8-1.2 keep foreground ≥ 0.64 and background ≤ 0.2
    assert soft[masks > 0.5].min() >= 0.64 and soft[masks < 0.5].max() <= 0.2
    assert torch.equal(out_images * 255, (out_images * 255).round())  # still uint8 values
    _, kept = ReferenceBatchAugment(0.5, 0.5, 0.2, 0.2, 0.2, jitter_masks=False)(images, masks)
    assert set(kept.unique().tolist()) == {0.0, 1.0}
