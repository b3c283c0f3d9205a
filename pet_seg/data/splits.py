"""The Hydra entry points: ``conf/data/*.yaml`` instantiate these to get the three splits.

Keys of the YAML files are the keyword arguments here, so swapping ``data=synthetic`` for
``data=oxford_pet`` changes nothing else in a run.
"""

from __future__ import annotations

import math
from pathlib import Path

from hydra.utils import to_absolute_path
from torch.utils.data import Dataset

from pet_seg.data.cache import CachedPetSegmentation
from pet_seg.data.download import download_oxford_pet
from pet_seg.data.mini import MINI_ROOT
from pet_seg.data.oxford_pet import (
    SPLITS,
    DataError,
    PetSegmentation,
    check_root,
    read_split,
    require_listed_files,
)
from pet_seg.data.synthetic import ensure_synthetic


def _absolute(path: str | Path) -> Path:
    """Relative paths mean the launch directory, even if a Hydra job changed the cwd."""
    return Path(to_absolute_path(str(path)))


def dataset_root(root: str | Path | None) -> Path:
    """What ``data.root`` means: None is the real subset shipped inside the package (found next
    to this code, so it works from any working directory), anything else the launch folder's."""
    return MINI_ROOT if root is None else _absolute(root)


def split_counts(
    root: str | Path | None,
    val_every: int = 10,
    num_trainval: int | None = None,
    num_test: int | None = None,
) -> dict[str, int] | None:
    """Images per split, counted from the split files without decoding a picture.

    A synthetic dataset not generated yet (``num_trainval`` given) is counted from its
    parameters; an official-layout root that is not there gives None (the run itself will stop
    and say why). The plan uses it to price a sweep before any job runs.
    """
    try:
        return {split: len(read_split(dataset_root(root), split, val_every)) for split in SPLITS}
    except DataError:
        if num_trainval is None or num_test is None:
            return None
    val = math.ceil(num_trainval / val_every)
    return {"train": num_trainval - val, "val": val, "test": num_test}


def load_splits(
    root: str | None,
    image_size: int,
    val_every: int = 10,
    cache: bool = True,
    download: bool = False,
    cache_dir: str | None = None,
) -> dict[str, Dataset]:
    """``{"train", "val", "test"}`` datasets of uint8 (3, S, S) images and (1, S, S) masks.

    ``root=None`` is the real subset shipped inside the package (``data=oxford_pet_mini``).
    """
    root_path = dataset_root(root)
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
