"""UNet on torchvision's ResNet34, which can start from ImageNet weights: the pretrained baseline.

The encoder is torchvision's ``resnet34`` without its pooling and classifier; the decoder is
``ResNet34UNet``'s own (bridge, five ``Up`` steps, final upsampling), sized from this encoder's
channels [64, 64, 128, 256, 512]. So the only differences from ``ResNet34UNet`` are the encoder's
widths (torchvision's stem is 64 wide, ours is b) and where its weights come from.

``weights`` is a ``torchvision.models.ResNet34_Weights`` name (``IMAGENET1K_V1``; ``DEFAULT``
is the same file) or None for a random init. When the weights cannot be fetched the model stops
with ``PretrainedWeightsError`` rather than quietly training from scratch: a run labelled
pretrained that was not would corrupt the very comparison it exists for.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import ResNet, ResNet34_Weights, resnet34

from pet_seg.models.parts import OutConv
from pet_seg.models.resnet34_unet import fits_resnet_unet_input
from pet_seg.models.unet_decoder import UNetDecoder

UNTRAINED = "untrained"


class PretrainedWeightsError(RuntimeError):
    """Pretrained encoder weights were asked for but could not be loaded."""


def _weights_enum(name: str) -> ResNet34_Weights:
    try:
        return ResNet34_Weights[name]
    except KeyError:
        options = [w.name for w in ResNet34_Weights]
        raise ValueError(
            f"model.weights={name!r} is not a torchvision ResNet34_Weights name; use one of "
            f"{options} (or DEFAULT), or model.weights=null to train from scratch"
        ) from None


def load_resnet34(weights: str | None) -> tuple[ResNet, str]:
    """torchvision's resnet34 and where its weights came from (``UNTRAINED`` for None).

    torchvision caches the file under ``$TORCH_HOME/hub/checkpoints/`` and downloads it only
    when it is not there.
    """
    if weights is None:
        return resnet34(weights=None), UNTRAINED
    enum = _weights_enum(weights)
    try:
        net = resnet34(weights=enum)
    except OSError as err:  # URLError, DNS and connection errors are all OSErrors
        cache = f"{torch.hub.get_dir()}/checkpoints/{enum.url.rsplit('/', 1)[-1]}"
        raise PretrainedWeightsError(
            f"model.weights={weights}: could not download torchvision's ResNet34 weights from "
            f"{enum.url} ({type(err).__name__}: {err}). Run again with network access, or copy "
            f"that file to {cache}, or train the encoder from scratch with model.weights=null."
        ) from err
    return net, f"torchvision ResNet34_Weights.{enum.name}"


class TorchvisionResNet34Encoder(nn.Module):
    """torchvision resnet34 minus avgpool/fc; returns [x1 … x5] at H/2 … H/32."""

    out_channels = (64, 64, 128, 256, 512)  # x1 … x5

    def __init__(self, in_channels: int = 3, weights: str | None = None) -> None:
        super().__init__()
        net, self.source = load_resnet34(weights)
        if in_channels != 3:  # ImageNet's stem expects RGB; any other input trains a new one
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.pool = net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        x1 = self.stem(x)  # (B, 64, H/2, W/2)
        x2 = self.layer1(self.pool(x1))  # (B, 64, H/4, W/4)
        x3 = self.layer2(x2)  # (B, 128, H/8, W/8)
        x4 = self.layer3(x3)  # (B, 256, H/16, W/16)
        x5 = self.layer4(x4)  # (B, 512, H/32, W/32)
        return [x1, x2, x3, x4, x5]


class PretrainedResNet34UNet(nn.Module):
    """torchvision ResNet34 encoder (ImageNet or random) → UNet decoder → 1×1 conv → logits.

    H and W must be even and at least 34 px, as for ``ResNet34UNet`` (the same strides and
    decoder). ``encoder_weights`` says where the encoder started, for the run summary.
    """

    input_size_rule = "an even size of at least 34 px a side"
    fits_input = staticmethod(fits_resnet_unet_input)

    def __init__(
        self, in_channels: int = 3, out_channels: int = 1, weights: str | None = None
    ) -> None:
        super().__init__()
        self.encoder = TorchvisionResNet34Encoder(in_channels, weights)
        self.decoder = UNetDecoder(list(self.encoder.out_channels))
        self.segmentation_head = OutConv(self.decoder.out_channels, out_channels)
        self.encoder_weights = self.encoder.source

    def forward(self, x: Tensor) -> Tensor:
        features = self.encoder(x)  # [x1 … x5], fine → coarse
        return self.segmentation_head(self.decoder(features))  # (B, out_channels, H, W)
