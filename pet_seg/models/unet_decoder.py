"""The UNet decoder both ResNet34 encoders share (ours and torchvision's, pretrained or not).

It sizes itself from the encoder's ``out_channels`` (fine to coarse), as in
segmentation_models_pytorch, so each encoder only has to say what it returns.
"""

from __future__ import annotations

from torch import Tensor, nn

from pet_seg.models.parts import Up


class UNetDecoder(nn.Module):
    """bridge ↓2 → one Up per skip, coarse to fine → convT ↑2 back to the input size."""

    def __init__(self, encoder_channels: list[int]) -> None:
        super().__init__()
        head = encoder_channels[-1]
        # The bridge conv keeps its bias although BN follows: the report's model had it, and the
        # 38,215,873 parameter count includes those 2·head bias terms.
        self.bridge = nn.Sequential(
            nn.Conv2d(head, 2 * head, kernel_size=3, padding=1),
            nn.BatchNorm2d(2 * head),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        skips = encoder_channels[::-1]  # x5 … x1
        ins = [2 * head, *skips[:-1]]
        self.blocks = nn.ModuleList(
            Up(c_in, skip, skip) for c_in, skip in zip(ins, skips, strict=True)
        )
        self.final_up = nn.ConvTranspose2d(skips[-1], skips[-1], kernel_size=2, stride=2)
        self.out_channels = skips[-1]

    def forward(self, features: list[Tensor]) -> Tensor:
        x = self.bridge(features[-1])  # (B, 32b, H/64, W/64)
        for block, skip in zip(self.blocks, reversed(features), strict=True):
            x = block(x, skip)  # (B, C_skip, H_skip, W_skip)
        return self.final_up(x)  # (B, b, H, W)
