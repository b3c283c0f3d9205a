"""The Hydra entry points: ``conf/data/*.yaml`` instantiate these to get the three splits.

Keys of the YAML files are the keyword arguments here, so swapping ``data=synthetic`` for
``data=oxford_pet`` changes nothing else in a run.
"""

from __future__ import annotations

from pathlib import Path

from hydra.utils import to_absolute_path
from torch.utils.data import Dataset

from pet_seg.data.cache import CachedPetSegmentation
from pet_seg.data.download import download_oxford_pet
from pet_seg.data.mini import MINI_ROOT
from pet_seg.data.oxford_pet import (
    SPLITS,
    PetSegmentation,
    check_root,
    read_split,
    require_listed_files,
)
from pet_seg.data.synthetic import ensure_synthetic


def _absolute(path: str | Path) -> Path:
    """Relative paths mean the launch directory, even if a Hydra job changed the cwd."""
    return Path(to_absolute_path(str(path)))


def load_splits(
    root: str | None,
    image_size: int,
    val_every: int = 10,
    cache: bool = True,
    download: bool = False,
    cache_dir: str | None = None,
) -> dict[str, Dataset]:
    """``{"train", "val", "test"}`` datasets of uint8 (3, S, S) images and (1, S, S) masks.

    ``root=None`` is the real subset shipped inside the package (``data=oxford_pet_mini``), found
    next to this code so that it works from any working directory.
    """
    root_path = MINI_ROOT if root is None else _absolute(root)
    if download:
        download_oxford_pet(root_path)
    check_root(root_path)
    names = [name for split in SPLITS for name in read_split(root_path, split, val_every)]
    require_listed_files(root_path, names)
    if not cache:
        return {split: PetSegmentation(root_path, split, image_size, val_every) for split in SPLITS}
    cache_path = _absolute(cache_dir) if cache_dir is not None else None
    return {
        split: CachedPetSegmentation(root_path, split, image_size, val_every, cache_path)
        for split in SPLITS
    }


def load_synthetic_splits(
    root: str,
    image_size: int,
    num_trainval: int,
    num_test: int,
    seed: int = 0,
    val_every: int = 10,
    cache: bool = True,
    cache_dir: str | None = None,
) -> dict[str, Dataset]:
    """Generate (or reuse) the synthetic dataset at ``root``, then load it like the real one."""
    ensure_synthetic(_absolute(root), num_trainval, num_test, seed)
    return load_splits(root, image_size, val_every, cache=cache, cache_dir=cache_dir)
