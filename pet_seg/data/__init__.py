"""Oxford-IIIT Pet data: the official layout, a decode-once cache, a synthetic twin, downloads.

``pet_seg.data.check`` (every problem of a dataset folder) is a command line, not imported here,
so that ``python -m pet_seg.data.check`` runs it fresh.

Datasets return uint8 tensors, image (3, S, S) and mask (1, S, S) in {0, 1}; scaling,
augmentation and normalisation happen on the batch (see ``pet_seg.preprocess``).
"""

from pet_seg.data.cache import CachedPetSegmentation, build_cache
from pet_seg.data.download import download_oxford_pet
from pet_seg.data.oxford_pet import (
    DataError,
    PetSegmentation,
    check_root,
    load_sample,
    read_split,
    trimap_to_mask,
)
from pet_seg.data.splits import load_splits, load_synthetic_splits
from pet_seg.data.synthetic import ensure_synthetic, generate_synthetic

__all__ = [
    "CachedPetSegmentation",
    "DataError",
    "PetSegmentation",
    "build_cache",
    "check_root",
    "download_oxford_pet",
    "ensure_synthetic",
    "generate_synthetic",
    "load_sample",
    "load_splits",
    "load_synthetic_splits",
    "read_split",
    "trimap_to_mask",
]
