"""UNet with a ResNet34-style encoder, as in the reference study (38.22 M parameters).

Naming follows segmentation_models_pytorch: the ``encoder`` returns its ``features`` fine to
coarse, and the ``decoder`` sizes itself from ``encoder.out_channels``. The stages match
ResNet34's [3, 4, 6, 3] blocks and 64…512 widths at b=32, but the stem is only b wide (torchvision's
is 64) and layer1 widens b → 2b, so ImageNet weights do not load as is: it trains from scratch.
"""

from __future__ import annotations

from torch import Tensor, nn

from pet_seg.models.parts import OutConv
from pet_seg.models.unet_decoder import UNetDecoder


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1
) -> nn.Sequential:
    """conv k×k (no bias: BN follows) → BN."""
    conv = nn.Conv2d(
        in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False
    )
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """x → conv-BN-ReLU → conv-BN → + shortcut(x) → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv_bn(in_channels, out_channels, 3, stride)
        self.conv2 = conv_bn(out_channels, out_channels, 3)
        self.relu = nn.ReLU(inplace=True)
        # Project only where the identity cannot be added (new width or new resolution).
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = conv_bn(in_channels, out_channels, 1, stride) if needs_projection else None

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        x = self.conv2(self.relu(self.conv1(x)))
        return self.relu(x + identity)


def stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    """First block changes width/resolution, the rest keep it."""
    layers = [BasicBlock(in_channels, out_channels, stride)]
    layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet34Encoder(nn.Module):
    """stem ↓2 → maxpool ↓2 → stages [3, 4, 6, 3]; returns [x1 … x5] at H/2 … H/32."""

    def __init__(self, in_channels: int = 3, base_channels: int = 32) -> None:
        super().__init__()
        b = base_channels
        self.out_channels = [b, 2 * b, 4 * b, 8 * b, 16 * b]  # x1 … x5
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, b, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(b),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = stage(b, 2 * b, blocks=3, stride=1)
        self.layer2 = stage(2 * b, 4 * b, blocks=4, stride=2)
        self.layer3 = stage(4 * b, 8 * b, blocks=6, stride=2)
        self.layer4 = stage(8 * b, 16 * b, blocks=3, stride=2)

    def forward(self, x: Tensor) -> list[Tensor]:
        x1 = self.stem(x)  # (B, b, H/2, W/2)
        x2 = self.layer1(self.pool(x1))  # (B, 2b, H/4, W/4)
        x3 = self.layer2(x2)  # (B, 4b, H/8, W/8)
        x4 = self.layer3(x3)  # (B, 8b, H/16, W/16)
        x5 = self.layer4(x4)  # (B, 16b, H/32, W/32)
        return [x1, x2, x3, x4, x5]


def fits_resnet_unet_input(size: int) -> bool:
    """Whether a ResNet-encoder UNet maps an H (or W) of ``size`` px to logits of that size.

    The encoder's five stride-2 steps round up (34 → 17 → 9 → 5 → 3 → 2) and the bridge pools
    once more, so H/32 must keep 2 px; the last upsampling doubles ceil(H/2), so odd sizes
    would come back one pixel larger than their masks.
    """
    return size >= 34 and size % 2 == 0


class ResNet34UNet(nn.Module):
    """ResNet34 encoder → UNet decoder → 1×1 conv → logits; H, W even and ≥ 34 (bridge: H/64)."""

    input_size_rule = "an even size of at least 34 px a side"
    fits_input = staticmethod(fits_resnet_unet_input)

    def __init__(
        self, in_channels: int = 3, out_channels: int = 1, base_channels: int = 32
    ) -> None:
        super().__init__()
        self.encoder = ResNet34Encoder(in_channels, base_channels)
        self.decoder = UNetDecoder(self.encoder.out_channels)
        self.segmentation_head = OutConv(self.decoder.out_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        features = self.encoder(x)  # [x1 … x5], fine → coarse
        return self.segmentation_head(self.decoder(features))  # (B, out_channels, H, W)
