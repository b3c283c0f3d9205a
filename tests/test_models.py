"""One shared test family for the segmentation models, in the segmentation_models_pytorch spirit.

Parameter counts use the report's widths (counting builds no activations); everything that runs
a forward pass uses a narrow width so the file stays fast on a small CPU.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pet_seg.models import ResNet34UNet, UNet

# (model class, parameters at the report's width)
COUNTS = [
    pytest.param(UNet, 31_037_633, id="unet"),
    pytest.param(ResNet34UNet, 38_215_873, id="resnet34_unet"),
]
# (model class, narrow width, input H×W). ResNet34UNet needs multiples of 64 (its bridge is
# H/64); UNet also takes 72×72, whose 9 → 4 pooling exercises the pad-to-skip path.
SHAPES = [
    pytest.param(UNet, 8, (64, 64), id="unet-64x64"),
    pytest.param(UNet, 8, (64, 128), id="unet-64x128"),
    pytest.param(UNet, 8, (72, 72), id="unet-72x72-odd"),
    pytest.param(ResNet34UNet, 4, (64, 64), id="resnet34_unet-64x64"),
    pytest.param(ResNet34UNet, 4, (64, 128), id="resnet34_unet-64x128"),
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("model_cls", "count"), COUNTS)
def test_parameter_count_matches_report(model_cls: type[nn.Module], count: int) -> None:
    assert n_params(model_cls()) == count


@pytest.mark.parametrize(("model_cls", "width", "size"), SHAPES)
def test_forward_returns_logits_at_input_size(
    model_cls: type[nn.Module], width: int, size: tuple[int, int]
) -> None:
    torch.manual_seed(0)
    model = model_cls(in_channels=3, out_channels=2, base_channels=width)
    x = torch.randn(2, 3, *size)  # (B, C, H, W)
    logits = model(x)
    assert logits.shape == (2, 2, *size)
    # Logits, not probabilities: a sigmoid output could never leave [0, 1].
    assert logits.min() < 0 or logits.max() > 1

    logits.mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
