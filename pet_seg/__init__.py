"""pet_seg: Hydra-configured ablation and sweep toolkit for binary pet segmentation."""

__version__ = "0.1.0"
