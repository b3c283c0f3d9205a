"""Decode-once cache: every sample of a split resized to S×S and stored as uint8 ``.npy`` files.

JPEG decoding and resizing dominate the per-sample pipeline; doing it once per (dataset,
split, size) makes every later epoch and run a memory-mapped slice. The folder name is a hash
of everything that changes the content (absolute root, split, size, ``val_every`` and each
listed file's size and mtime), so an edited dataset gets a fresh cache instead of stale data.
A cache folder is complete by construction: it is built in a temporary folder and moved into
place with ``os.replace``, so a kill or a concurrent builder never leaves a corrupt one.
Superseded cache folders are not deleted; remove ``<root>/.pet_seg_cache`` to reclaim space.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from pet_seg.data.oxford_pet import (
    DataError,
    as_hw,
    check_root,
    image_path,
    load_sample,
    read_split,
    trimap_path,
)

CACHE_VERSION = 1  # bump when decoding changes, so caches made by older code are not reused
STALE_TMP_S = 24 * 3600  # temporary folders this old were left by killed builds


def default_cache_dir(root: Path) -> Path:
    return Path(root) / ".pet_seg_cache"


def _file_key(root: Path, path: Path) -> list[int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError(
            f"{path}: listed in the split files but missing. "
            f"`python -m pet_seg.data.check {root}` lists every problem of the dataset."
        ) from None
    return [stat.st_size, stat.st_mtime_ns]


def cache_key(
    root: Path, split: str, names: Sequence[str], image_size: tuple[int, int], val_every: int
) -> str:
    """Hash of everything the cached arrays depend on."""
    files = [
        [name, *_file_key(root, image_path(root, name)), *_file_key(root, trimap_path(root, name))]
        for name in names
    ]
    payload = {
        "version": CACHE_VERSION,
        "root": str(Path(root).resolve()),
        "split": split,
        "image_size": list(image_size),
        "val_every": val_every,
        "files": files,
    }
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:20]


def _make_tmp(cache_dir: Path, final_name: str) -> Path:
    """Private build folder inside ``cache_dir`` (same filesystem, so ``os.replace`` is atomic)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for old in cache_dir.glob(".tmp-*"):
            if time.time() - old.stat().st_mtime > STALE_TMP_S:
                shutil.rmtree(old, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final_name}-", dir=cache_dir))
    except PermissionError as err:
        raise DataError(
            f"cannot write the dataset cache in {cache_dir} ({err}). Point data.cache_dir at a "
            f"writable folder, or use data.cache=false to decode per sample."
        ) from err
    tmp.chmod(0o755)
    return tmp


def _write_arrays(
    folder: Path, root: Path, names: list[str], size: tuple[int, int], desc: str
) -> None:
    """Decode in threads (Pillow releases the GIL) straight into ``.npy`` memmaps."""
    n, (height, width) = len(names), size
    images = np.lib.format.open_memmap(
        folder / "images.npy", mode="w+", dtype=np.uint8, shape=(n, 3, height, width)
    )
    masks = np.lib.format.open_memmap(
        folder / "masks.npy", mode="w+", dtype=np.uint8, shape=(n, 1, height, width)
    )
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    try:
        samples = pool.map(lambda name: load_sample(root, name, size), names)
        # disable=None hides the bar when stderr is not a terminal (logs, CI).
        progress = tqdm(samples, total=n, desc=desc, unit="img", disable=None)
        for i, (image, mask) in enumerate(progress):
            images[i] = image.transpose(2, 0, 1)  # (H, W, 3) → (3, H, W)
            masks[i, 0] = mask
    finally:
        pool.shutdown(cancel_futures=True)  # on a bad file, fail now rather than after the rest
    images.flush()
    masks.flush()
    del images, masks
    (folder / "names.json").write_text(json.dumps(names))


def build_cache(
    root: str | Path,
    split: str,
    image_size: int | Sequence[int],
    val_every: int = 10,
    cache_dir: str | Path | None = None,
) -> Path:
    """Folder holding images.npy (N, 3, H, W), masks.npy (N, 1, H, W) and names.json."""
    root = Path(root)
    check_root(root)
    size = as_hw(image_size)
    names = read_split(root, split, val_every)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(root)
    key = cache_key(root, split, names, size, val_every)
    final = cache_dir / f"{split}-{size[0]}x{size[1]}-{key}"
    if final.is_dir():
        return final
    tmp = _make_tmp(cache_dir, final.name)
    try:
        _write_arrays(tmp, root, names, size, desc=f"caching {split} {size[0]}x{size[1]}")
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.is_dir():  # else another process finished the same cache first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


class CachedPetSegmentation(Dataset):
    """Same interface and tensors as ``PetSegmentation``, read from the decode-once cache."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        image_size: int | Sequence[int],
        val_every: int = 10,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.image_size = as_hw(image_size)
        self.path = build_cache(root, split, image_size, val_every, cache_dir)
        self.names: list[str] = json.loads((self.path / "names.json").read_text())
        self._images: np.ndarray | None = None  # opened lazily, once per process
        self._masks: np.ndarray | None = None

    def __getstate__(self) -> dict:
        # DataLoader workers get the path, not a pickled copy of the whole memmap.
        return {**self.__dict__, "_images": None, "_masks": None}

    def __len__(self) -> int:
        return len(self.names)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._images is None or self._masks is None:
            self._images = np.load(self.path / "images.npy", mmap_mode="r")
            self._masks = np.load(self.path / "masks.npy", mmap_mode="r")
        return self._images, self._masks

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        images, masks = self._arrays()
        # np.array copies out of the read-only map: torch wants writable memory.
        return torch.from_numpy(np.array(images[index])), torch.from_numpy(np.array(masks[index]))
