"""Dice/IoU against hand-computed values, including the empty-mask convention."""

import math

import pytest
import torch

from pet_seg.metrics import (
    batch_pooled_dice,
    dice_from_counts,
    iou_from_counts,
    pixel_counts,
    summarize,
)


def _logits(pattern: list[list[int]]) -> torch.Tensor:
    """1 → a positive logit (predicted pet), 0 → a negative one; shape (1, 1, H, W)."""
    return (torch.tensor(pattern, dtype=torch.float32) * 2 - 1).view(
        1, 1, *torch.tensor(pattern).shape
    )


def _mask(pattern: list[list[int]]) -> torch.Tensor:
    return torch.tensor(pattern, dtype=torch.float32).view(1, 1, *torch.tensor(pattern).shape)


def test_counts_dice_iou_on_a_2x2_example():
    # prediction {(0,0),(0,1)}, truth {(0,0),(1,0)}: |P∩G| = 1, |P| = 2, |G| = 2
    counts = pixel_counts(_logits([[1, 1], [0, 0]]), _mask([[1, 0], [1, 0]]))
    assert counts.tolist() == [[1, 2, 2]]
    assert dice_from_counts(counts).item() == pytest.approx(2 * 1 / (2 + 2))
    assert iou_from_counts(counts).item() == pytest.approx(1 / 3)


def test_threshold_is_probability_above_one_half():
    # logit 0 is probability exactly 0.5, which is *not* foreground (strictly greater than 0.5)
    logits = torch.tensor([0.0, 1e-4, -1e-4]).view(1, 1, 1, 3)
    counts = pixel_counts(logits, torch.ones(1, 1, 1, 3))
    assert counts.tolist() == [[1, 1, 3]]


@pytest.mark.parametrize(
    ("pred", "true", "dice", "iou"),
    [
        ([[0, 0]], [[0, 0]], 1.0, 1.0),  # both empty: a perfect "no pet" answer
        ([[0, 0]], [[1, 1]], 0.0, 0.0),  # missed everything
        ([[1, 1]], [[0, 0]], 0.0, 0.0),  # hallucinated a pet
        ([[1, 1]], [[1, 1]], 1.0, 1.0),
    ],
)
def test_edge_cases(pred, true, dice, iou):
    counts = pixel_counts(_logits(pred), _mask(true))
    assert dice_from_counts(counts).item() == dice
    assert iou_from_counts(counts).item() == iou


def test_per_image_not_pooled():
    # image A: perfect on 1 pixel; image B: 0 of 3. Per-image mean = 0.5; pooled Dice would be 2/5.
    logits = torch.stack([_logits([[1, 0, 0]])[0], _logits([[0, 0, 0]])[0]])
    masks = torch.stack([_mask([[1, 0, 0]])[0], _mask([[1, 1, 1]])[0]])
    assert dice_from_counts(pixel_counts(logits, masks)).tolist() == [1.0, 0.0]


def test_summarize_matches_hand_computation():
    stats = summarize(torch.tensor([0.0, 0.5, 1.0, 1.0]))
    assert stats["mean"] == pytest.approx(0.625)
    assert stats["median"] == pytest.approx(0.75)  # mean of the middle two, not the lower one
    assert stats["std"] == pytest.approx(math.sqrt(0.6875 / 4))  # population std
    assert (stats["min"], stats["max"]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="empty"):
        summarize(torch.tensor([]))


# [intersection, predicted, true] per image: A half right, B perfect and large, C missed.
THREE_IMAGES = torch.tensor([[1, 2, 2], [6, 6, 6], [0, 0, 4]])


def test_pooled_per_batch_dice_differs_from_the_per_image_mean():
    per_image = dice_from_counts(THREE_IMAGES)
    assert per_image.tolist() == [0.5, 1.0, 0.0]  # 2·1/4, 2·6/12, 0/4
    # batches of 2: [A, B] pools to 2·7 / (8 + 8) = 0.875; [C] alone is 0 and, although it
    # holds one image, counts as a whole batch: (0.875 + 0) / 2 = 0.4375 ≠ 0.5 per image.
    pooled = batch_pooled_dice(THREE_IMAGES, batch_size=2)
    assert pooled.tolist() == [0.875, 0.0]
    assert float(pooled.mean()) == 0.4375 and float(per_image.mean()) == 0.5
    assert batch_pooled_dice(THREE_IMAGES, batch_size=3).tolist() == [14 / 20]
    with pytest.raises(ValueError, match="batch_size"):
        batch_pooled_dice(THREE_IMAGES, batch_size=0)


def test_report_epsilon_scores_empty_truth_and_prediction_zero():
    both_empty = torch.tensor([[0, 0, 0]])
    assert dice_from_counts(both_empty).item() == 1.0  # pet_seg
    assert dice_from_counts(both_empty, epsilon=1e-8).item() == 0.0  # the report: 0 / 1e-8
    # elsewhere ε moves Dice by ~ε/(|P|+|G|): 2·1 / (2 + 2 + 1e-8)
    assert dice_from_counts(torch.tensor([[1, 2, 2]]), 1e-8).item() == 2 / (4 + 1e-8)
    assert batch_pooled_dice(torch.tensor([[0, 0, 0], [0, 0, 0]]), 2, 1e-8).tolist() == [0.0]
