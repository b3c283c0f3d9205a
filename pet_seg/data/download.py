"""Fetch the real Oxford-IIIT Pet through torchvision's downloader (MD5-checked, resumable).

``torchvision.datasets.OxfordIIITPet(root=R, download=True)`` always extracts into
``R/oxford-iiit-pet/{images,annotations}``, which is why the default data root is
``data/oxford-iiit-pet``: we pass its parent. For a root with another name we let torchvision
fill a hidden staging folder beside it and then move the extracted folder into place.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from pet_seg.data.oxford_pet import DataError, check_root

TORCHVISION_FOLDER = "oxford-iiit-pet"  # the sub-folder torchvision extracts into
URLS = (
    "https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz",
    "https://thor.robots.ox.ac.uk/datasets/pets/annotations.tar.gz",
)


def _is_complete(root: Path) -> bool:
    try:
        check_root(root)
    except DataError:
        return False
    return True


def _by_hand(root: Path) -> str:
    return (
        f"Fetch {URLS[0]} and {URLS[1]} by hand, then extract both into {root} "
        f"(`mkdir -p {root} && tar -xzf images.tar.gz -C {root} && "
        f"tar -xzf annotations.tar.gz -C {root}`) so that {root}/images and "
        f"{root}/annotations exist."
    )


def _fetch(parent: Path, root: Path) -> None:
    """Let torchvision download and extract into ``parent/oxford-iiit-pet``."""
    from torchvision.datasets import OxfordIIITPet  # heavy import, only when downloading

    parent.mkdir(parents=True, exist_ok=True)
    try:
        OxfordIIITPet(root=parent, split="trainval", target_types="segmentation", download=True)
    except (OSError, RuntimeError, EOFError, tarfile.TarError) as err:  # URLError is an OSError
        raise DataError(f"Downloading Oxford-IIIT Pet failed ({err}). {_by_hand(root)}") from err


def download_oxford_pet(root: Path) -> Path:
    """Make ``root`` hold images/ and annotations/ of the real dataset; no-op when present."""
    root = Path(root)
    if _is_complete(root):
        return root
    if root.name == TORCHVISION_FOLDER:
        _fetch(root.parent, root)
    else:
        if root.exists() and any(root.iterdir()):
            raise DataError(
                f"{root} exists but is not a complete dataset; refusing to mix files "
                f"into it. Empty or remove it and retry, or: {_by_hand(root)}"
            )
        # A fixed staging name, so a rerun after an interruption reuses the fetched archives.
        staging = root.parent / f".{root.name}.download"
        _fetch(staging, root)
        os.replace(staging / TORCHVISION_FOLDER, root)
        shutil.rmtree(staging, ignore_errors=True)
    if not _is_complete(root):
        # torchvision skips the download when images/ and annotations/ exist, even half-extracted.
        raise DataError(
            f"{root} is still incomplete after downloading (an earlier extraction was probably "
            f"interrupted). Delete {root} and retry, or: {_by_hand(root)}"
        )
    return root
