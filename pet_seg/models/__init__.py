"""Segmentation models; each returns logits of shape (B, out_channels, H, W)."""

from pet_seg.models.pretrained_unet import PretrainedResNet34UNet
from pet_seg.models.resnet34_unet import ResNet34UNet
from pet_seg.models.unet import UNet

__all__ = ["PretrainedResNet34UNet", "ResNet34UNet", "UNet"]
