"""The classic UNet of the reference study (31.04 M parameters at the default width)."""

from __future__ import annotations

from torch import Tensor, nn

from pet_seg.models.parts import DoubleConv, Down, OutConv, Up


class UNet(nn.Module):
    """in → [b, 2b, 4b, 8b, 16b] down, four Ups back to b, 1×1 conv → logits.

    Input H and W need not be multiples of 16: ``Up`` pads to each skip's size.
    """

    # Four 2×2 poolings floor H to H/16, which must keep a pixel.
    input_size_rule = "at least 16 px a side"

    @staticmethod
    def fits_input(size: int) -> bool:
        """Whether an H (or W) of ``size`` px comes back as logits of the same size."""
        return size >= 16

    def __init__(
        self, in_channels: int = 3, out_channels: int = 1, base_channels: int = 64
    ) -> None:
        super().__init__()
        b = base_channels
        self.inc = DoubleConv(in_channels, b)
        self.down1 = Down(b, 2 * b)
        self.down2 = Down(2 * b, 4 * b)
        self.down3 = Down(4 * b, 8 * b)
        self.down4 = Down(8 * b, 16 * b)
        self.up1 = Up(16 * b, 8 * b, 8 * b)
        self.up2 = Up(8 * b, 4 * b, 4 * b)
        self.up3 = Up(4 * b, 2 * b, 2 * b)
        self.up4 = Up(2 * b, b, b)
        self.outc = OutConv(b, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.inc(x)  # (B, b, H, W)
        x2 = self.down1(x1)  # (B, 2b, H/2, W/2)
        x3 = self.down2(x2)  # (B, 4b, H/4, W/4)
        x4 = self.down3(x3)  # (B, 8b, H/8, W/8)
        x5 = self.down4(x4)  # (B, 16b, H/16, W/16)
        x = self.up1(x5, x4)  # (B, 8b, H/8, W/8)
        x = self.up2(x, x3)  # (B, 4b, H/4, W/4)
        x = self.up3(x, x2)  # (B, 2b, H/2, W/2)
        x = self.up4(x, x1)  # (B, b, H, W)
        return self.outc(x)  # (B, out_channels, H, W) logits
