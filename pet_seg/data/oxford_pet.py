"""The official Oxford-IIIT Pet layout: split files, trimaps and the per-sample dataset.

Layout under ``root``::

    images/<name>.jpg
    annotations/trimaps/<name>.png     # 1 pet, 2 background, 3 boundary
    annotations/trainval.txt           # "<name> <class id> <species> <breed id>" per line
    annotations/test.txt

Every failure a user can fix (missing folder, broken file) becomes a ``DataError`` whose message
names the file and says what to do, because a bare PIL traceback deep inside a DataLoader
worker does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")
SPLIT_FILES = {"train": "trainval.txt", "val": "trainval.txt", "test": "test.txt"}

# Exceptions Pillow raises for corrupt, truncated or oversized files (UnidentifiedImageError is
# an OSError; some plugins raise SyntaxError or ValueError on malformed headers).
PIL_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class DataError(ValueError):
    """A dataset problem the user can fix; the message names the file and the fix."""


def image_path(root: Path, name: str) -> Path:
    return Path(root) / "images" / f"{name}.jpg"


def trimap_path(root: Path, name: str) -> Path:
    return Path(root) / "annotations" / "trimaps" / f"{name}.png"


def split_file(root: Path, split: str) -> Path:
    return Path(root) / "annotations" / SPLIT_FILES[split]


def fix_hint(root: Path) -> str:
    """The three ways out, spelled as commands, so every error can end with them."""
    return (
        f"Fetch the dataset with `python scripts/download_data.py --root {root}` (or run with "
        f"`data.download=true`), or try the built-in synthetic data with `data=synthetic`."
    )


def check_root(root: Path) -> None:
    """Fail early, once, with every missing piece listed, instead of on the first sample."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"Oxford-IIIT Pet not found: no folder {root.resolve()} "
            f"(expected images/ and annotations/ inside). {fix_hint(root)}"
        )
    wanted = [root / "images", root / "annotations" / "trimaps"]
    wanted += [split_file(root, split) for split in ("train", "test")]
    missing = [str(path) for path in wanted if not path.exists()]
    if missing:
        raise DataError(
            f"Oxford-IIIT Pet at {root.resolve()} is incomplete; missing: {', '.join(missing)}. "
            f"{fix_hint(root)}"
        )


def require_listed_files(root: Path, names: Sequence[str]) -> None:
    """Name every missing picture and trimap at once: a partial download misses hundreds, and
    failing on them one by one (deep in a cache build or a DataLoader worker) hides the cause."""
    root = Path(root)
    missing = [
        path
        for name in dict.fromkeys(names)
        for path in (image_path(root, name), trimap_path(root, name))
        if not path.is_file()
    ]
    if missing:
        shown = ", ".join(str(path.relative_to(root)) for path in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        raise DataError(
            f"Oxford-IIIT Pet at {root.resolve()} is incomplete: {len(missing)} file(s) named by "
            f"the split files are missing: {shown}{more}. `python -m pet_seg.data.check {root}` "
            f"lists every problem. {fix_hint(root)}"
        )


def read_split(root: Path, split: str, val_every: int = 10) -> list[str]:
    """Names of one split; val is every ``val_every``-th trainval line so splits never overlap."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if val_every < 1:
        raise ValueError(f"val_every must be >= 1, got {val_every}")
    path = split_file(root, split)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"split file {path} not found. {fix_hint(Path(root))}") from None
    names = [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]
    if split == "test":
        return names
    keep_val = split == "val"
    return [name for i, name in enumerate(names) if (i % val_every == 0) == keep_val]


def trimap_to_mask(trimap: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    """Trimap → binary mask: pet (1) and boundary (3) are foreground, background (2) is not."""
    trimap = np.asarray(trimap)
    valid = (trimap >= 1) & (trimap <= 3)
    if not valid.all():
        bad = np.unique(trimap[~valid])[:5].tolist()
        where = f"{source}: " if source is not None else ""
        raise DataError(
            f"{where}trimap has values {bad} outside {{1, 2, 3}}; the file is not an Oxford-IIIT "
            f"Pet trimap. Re-extract annotations.tar.gz or drop it from the split files."
        )
    return (trimap != 2).astype(np.uint8)


def read_image(path: Path) -> Image.Image:
    """Decode fully (so truncation fails here, not later) and convert any mode to RGB."""
    if not path.is_file():
        raise DataError(f"{path}: image listed in the split files is missing; re-download it.")
    try:
        with Image.open(path) as opened:
            opened.load()
            # Palette images may carry transparency; going through RGBA avoids Pillow's warning.
            image = opened.convert("RGBA") if opened.mode in ("P", "PA") else opened
            return image.convert("RGB")  # always a copy, so closing the file is safe
    except PIL_ERRORS as err:
        raise DataError(
            f"{path}: cannot decode image ({err}); the file is truncated or corrupt. "
            f"Re-download it, or remove its line from the split files."
        ) from err


def read_trimap(path: Path) -> Image.Image:
    """Decode a trimap keeping its raw values (mode L or P index values are the labels)."""
    if not path.is_file():
        raise DataError(
            f"{path}: trimap missing for an image listed in the split files. Re-extract "
            f"annotations.tar.gz, or remove the image's line from the split files."
        )
    try:
        with Image.open(path) as opened:
            opened.load()
            return opened.copy() if opened.mode in ("L", "P") else opened.convert("L")
    except PIL_ERRORS as err:
        raise DataError(f"{path}: cannot decode trimap ({err}); re-extract it.") from err


def size_mismatch(
    image_file: Path, trimap_file: Path, image_size: tuple[int, int], trimap_size: tuple[int, int]
) -> str:
    return (
        f"{trimap_file}: trimap is {trimap_size[0]}x{trimap_size[1]} but its image {image_file} "
        f"is {image_size[0]}x{image_size[1]} (WxH); the pair does not belong together. "
        f"Re-extract both, or remove the line from the split files."
    )


def as_hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    """Accept 256 or (height, width): configs usually give one int for square inputs."""
    if isinstance(image_size, int | np.integer):
        return int(image_size), int(image_size)
    height, width = (int(v) for v in image_size)
    return height, width


def load_sample(
    root: Path, name: str, image_size: int | Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB image (bilinear) and (H, W) uint8 {0, 1} mask (nearest)."""
    height, width = as_hw(image_size)
    image_file, trimap_file = image_path(root, name), trimap_path(root, name)
    image, trimap = read_image(image_file), read_trimap(trimap_file)
    if image.size != trimap.size:
        raise DataError(size_mismatch(image_file, trimap_file, image.size, trimap.size))
    # Validate at full resolution: nearest resizing could skip a stray bad pixel.
    trimap_to_mask(np.asarray(trimap), source=trimap_file)
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    trimap = trimap.resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(image, dtype=np.uint8), trimap_to_mask(np.asarray(trimap), trimap_file)


def to_tensors(image: np.ndarray, mask: np.ndarray) -> tuple[Tensor, Tensor]:
    """(H, W, 3) and (H, W) arrays → (3, H, W) and (1, H, W) uint8 tensors."""
    image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return image_t, torch.from_numpy(np.ascontiguousarray(mask[None]))


class PetSegmentation(Dataset):
    """Decodes each sample on access (the seed-style pipeline); no normalisation or augmentation,
    which run on the batch on the device."""

    def __init__(
        self, root: str | Path, split: str, image_size: int | Sequence[int], val_every: int = 10
    ) -> None:
        self.root = Path(root)
        check_root(self.root)
        self.split = split
        self.image_size = as_hw(image_size)
        self.names: list[str] = read_split(self.root, split, val_every)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, mask = load_sample(self.root, self.names[index], self.image_size)
        return to_tensors(image, mask)  # (3, H, W) uint8, (1, H, W) uint8 in {0, 1}
