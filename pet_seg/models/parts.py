"""UNet building blocks shared by both architectures, after milesial/Pytorch-UNet."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DoubleConv(nn.Sequential):
    """(conv 3×3 → BN → ReLU) × 2; no conv bias because BN's shift replaces it."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    """maxpool 2×2 → DoubleConv: halves H and W before widening."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


class Up(nn.Module):
    """convT 2×2 ↑ (C → C/2) → pad to skip → cat[skip, up] → DoubleConv."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(skip_channels + in_channels // 2, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)  # (B, C/2, 2h, 2w)
        # An odd-sized skip (e.g. 9 from 18 → 9 → 4 on pooling) leaves the upsampled map one
        # pixel short; pad it rather than crop the skip so no encoder detail is lost.
        dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])  # (B, C/2, Hs, Ws)
        return self.conv(torch.cat([skip, x], dim=1))  # (B, out, Hs, Ws)


class OutConv(nn.Conv2d):
    """conv 1×1 → logits; sigmoid is left to the loss and the metrics."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=1)
