"""The ``loss`` group: soft Dice and BCE + Dice against values worked out by hand.

Logits 0 give p = 0.5 exactly and ±inf give p = 1 / 0 exactly, so every expected value below is
a small fraction. Convention: soft Dice = (2·Σpg + s) / (Σp + Σg + s) per image, s = 1.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from pet_seg.losses import BCEDiceLoss, SoftDiceLoss, soft_dice

CONF = Path(__file__).resolve().parents[1] / "conf"
INF = float("inf")


def _image(values: list[float]) -> torch.Tensor:
    """Four pixels as one (1, 1, 2, 2) image."""
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 2, 2)


HALF = _image([0.0, 0.0, 0.0, 0.0])  # p = 0.5 everywhere: Σp = 2
HALF_FG = _image([1, 1, 0, 0])  # Σg = 2


@pytest.mark.parametrize(
    ("logits", "mask", "dice"),
    [
        # Σpg = 1, Σp = 2, Σg = 2 → (2·1 + 1) / (2 + 2 + 1)
        pytest.param(HALF, HALF_FG, 3 / 5, id="p=0.5-half-mask"),
        # empty mask, p = 0.5: (0 + 1) / (2 + 0 + 1)
        pytest.param(HALF, _image([0, 0, 0, 0]), 1 / 3, id="empty-mask-unsure"),
        # empty mask, empty prediction: (0 + 1) / (0 + 0 + 1) = 1, the metric's convention
        pytest.param(_image([-INF] * 4), _image([0, 0, 0, 0]), 1.0, id="empty-mask-empty-pred"),
        # empty mask, all foreground predicted: 1 / (4 + 1)
        pytest.param(_image([INF] * 4), _image([0, 0, 0, 0]), 1 / 5, id="empty-mask-full-pred"),
        # perfect: (2·2 + 1) / (2 + 2 + 1)
        pytest.param(_image([INF, INF, -INF, -INF]), HALF_FG, 1.0, id="perfect"),
        # disjoint: (0 + 1) / (2 + 2 + 1)
        pytest.param(_image([-INF, -INF, INF, INF]), HALF_FG, 1 / 5, id="disjoint"),
    ],
)
def test_soft_dice_by_hand(logits, mask, dice):
    assert soft_dice(logits, mask).item() == pytest.approx(dice, abs=1e-7)
    assert SoftDiceLoss()(logits, mask).item() == pytest.approx(1 - dice, abs=1e-7)


def test_soft_dice_is_per_image_then_mean_over_the_batch():
    logits = torch.cat([HALF, HALF])  # (2, 1, 2, 2)
    masks = torch.cat([HALF_FG, _image([0, 0, 0, 0])])
    # per image 3/5 and 1/3; pooling the batch would give (2 + 1) / (4 + 2 + 1) = 3/7 instead
    assert SoftDiceLoss()(logits, masks).item() == pytest.approx(1 - (3 / 5 + 1 / 3) / 2)


def test_smooth_zero_is_the_plain_formula():
    assert SoftDiceLoss(smooth=0)(HALF, HALF_FG).item() == pytest.approx(1 - 2 / 4)
    with pytest.raises(ValueError, match="loss.smooth"):
        SoftDiceLoss(smooth=-1)


def test_bce_dice_is_the_weighted_sum():
    # BCE at p = 0.5 is ln 2 for every pixel whatever the mask; soft-Dice loss is 1 − 3/5
    loss = BCEDiceLoss(bce_weight=0.5, dice_weight=2.0)(HALF, HALF_FG)
    assert loss.item() == pytest.approx(0.5 * math.log(2) + 2.0 * 0.4, abs=1e-6)


def test_dice_gradient_pushes_foreground_up_and_background_down():
    logits = HALF.clone().requires_grad_(True)
    SoftDiceLoss()(logits, HALF_FG).backward()
    grad = logits.grad.flatten()
    assert (grad[:2] < 0).all() and (grad[2:] > 0).all()  # descent raises fg, lowers bg logits


def test_bf16_logits_give_a_float32_loss():
    loss = BCEDiceLoss()(HALF.bfloat16(), HALF_FG)
    assert loss.dtype == torch.float32


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize(
    ("option", "cls"),
    [("bce", torch.nn.BCEWithLogitsLoss), ("dice", SoftDiceLoss), ("bce_dice", BCEDiceLoss)],
)
def test_loss_group_options_build(option, cls):
    loss = instantiate(_compose(f"loss={option}").loss)
    assert type(loss) is cls
    assert torch.isfinite(loss(HALF, HALF_FG))


def test_bce_is_the_default_and_weights_come_from_the_config():
    assert _compose().loss._target_ == "torch.nn.BCEWithLogitsLoss"
    loss = instantiate(_compose("loss=bce_dice", "loss.dice_weight=0.25").loss)
    assert (loss.bce_weight, loss.dice_weight) == (1.0, 0.25)
