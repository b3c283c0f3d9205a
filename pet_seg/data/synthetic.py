"""A generated pets-like dataset in the exact Oxford-IIIT Pet layout.

It exists so the whole toolkit (loader, cache, training, tests) runs without the 800 MB
download, through the very same code path as the real data. The folder is written next to its
target and moved into place with ``os.replace``, so a kill or a second generator never leaves
a half-written dataset, and ``synthetic.json`` records the parameters so it is regenerated
only when they change.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from pet_seg.data.oxford_pet import DataError
from pet_seg.data.synthetic_draw import render

MANIFEST = "synthetic.json"
FORMAT_VERSION = 1

# The 37 real breeds; capitalised = cat (species 1), lowercase = dog (species 2). Sorting them
# case-insensitively gives the official class ids, and the rank within a species the breed id.
BREEDS = (
    "Abyssinian", "american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle",
    "Bengal", "Birman", "Bombay", "boxer", "British_Shorthair", "chihuahua", "Egyptian_Mau",
    "english_cocker_spaniel", "english_setter", "german_shorthaired", "great_pyrenees",
    "havanese", "japanese_chin", "keeshond", "leonberger", "Maine_Coon", "miniature_pinscher",
    "newfoundland", "Persian", "pomeranian", "pug", "Ragdoll", "Russian_Blue", "saint_bernard",
    "samoyed", "scottish_terrier", "shiba_inu", "Siamese", "Sphynx",
    "staffordshire_bull_terrier", "wheaten_terrier", "yorkshire_terrier",
)  # fmt: skip

# The header of the real annotations/list.txt, typos included.
LIST_HEADER = (
    "#Image CLASS-ID SPECIES BREED ID\n"
    "#ID: 1:37 Class ids\n"
    "#SPECIES: 1:Cat 2:Dog\n"
    "#BREED ID: 1-25:Cat 1:12:Dog\n"
    "#All images with 1st letter as captial are cat images\n"
    "#images with small first letter are dog images\n"
)


def breed_ids(breed: str) -> tuple[int, int, int]:
    """(class id, species, breed id) as in the official split files."""
    ordered = sorted(BREEDS, key=str.lower)
    species = 1 if breed[0].isupper() else 2
    same_species = [b for b in ordered if (b[0].isupper()) == (species == 1)]
    return ordered.index(breed) + 1, species, same_species.index(breed) + 1


def _save_mode(index: int, total: int) -> str:
    """A few grayscale and two CMYK JPEGs at fixed places, like the odd files in the real set."""
    if index in (1, total - 2):
        return "CMYK"
    return "L" if index % 13 == 4 else "RGB"


def _write_files(folder: Path, params: dict) -> list[tuple[str, str]]:
    """Render every picture; returns (name, split file line) in generation order."""
    total = params["num_trainval"] + params["num_test"]
    counts: dict[str, int] = {}
    rows = []
    for index in range(total):
        # One generator per image: the image depends only on (seed, index).
        rng = np.random.default_rng([params["seed"], index])
        breed = BREEDS[int(rng.integers(len(BREEDS)))]
        counts[breed] = counts.get(breed, 0) + 1
        name = f"{breed}_{counts[breed]}"
        touch = index % 9 == 2
        image, trimap = render(rng, params["min_size"], params["max_size"], touch)
        image.convert(_save_mode(index, total)).save(folder / "images" / f"{name}.jpg", quality=90)
        Image.fromarray(trimap).save(folder / "annotations" / "trimaps" / f"{name}.png")
        class_id, species, breed_id = breed_ids(breed)
        rows.append((name, f"{name} {class_id} {species} {breed_id}\n"))
    return rows


def _sorted_lines(rows: list[tuple[str, str]]) -> str:
    """Official files are ordered by class, then name."""
    return "".join(line for _, line in sorted(rows, key=lambda r: (int(r[1].split()[1]), r[0])))


def _write_dataset(folder: Path, params: dict) -> None:
    (folder / "images").mkdir()
    (folder / "annotations" / "trimaps").mkdir(parents=True)
    rows = _write_files(folder, params)
    trainval, test = rows[: params["num_trainval"]], rows[params["num_trainval"] :]
    annotations = folder / "annotations"
    (annotations / "trainval.txt").write_text(_sorted_lines(trainval))
    (annotations / "test.txt").write_text(_sorted_lines(test))
    (annotations / "list.txt").write_text(LIST_HEADER + _sorted_lines(rows))
    (folder / MANIFEST).write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")


def read_manifest(root: Path) -> dict | None:
    """The generation parameters, ``None`` if the folder is not ours, ``{}`` if unreadable."""
    try:
        return json.loads((Path(root) / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        return {}


def _refuse_foreign(root: Path) -> None:
    """Never delete a folder we did not generate: a user's real dataset could live there."""
    if root.exists() and read_manifest(root) is None and any(root.iterdir()):
        raise DataError(
            f"{root} exists and has no {MANIFEST}, so it was not made by the synthetic "
            f"generator; refusing to overwrite it. Pick another root (data.root=...) or delete it."
        )


def _move_into_place(built: Path, root: Path, params: dict) -> None:
    """Put ``built`` at ``root`` without ever pulling a dataset from under another process.

    Parallel sweep jobs may generate the same dataset at once: the first rename wins and the
    others keep its identical copy (and the cache that may already live in it). Only a root
    made with other parameters is moved aside.
    """
    try:
        os.rename(built, root)  # atomic; fails while root holds files
        return
    except OSError:
        if read_manifest(root) == params:
            return
    old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
    try:
        with contextlib.suppress(FileNotFoundError):
            os.replace(root, old)
        try:
            os.replace(built, root)
        except OSError:
            if read_manifest(root) != params:
                raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _params(num_trainval: int, num_test: int, seed: int, min_size: int, max_size: int) -> dict:
    if num_trainval < 1 or num_test < 0:
        raise ValueError(f"need num_trainval >= 1, num_test >= 0; got {num_trainval}, {num_test}")
    if not 32 <= min_size <= max_size:
        raise ValueError(f"need 32 <= min_size <= max_size, got {min_size}, {max_size}")
    return {
        "generator": "pet_seg.data.synthetic",
        "format_version": FORMAT_VERSION,
        "num_trainval": int(num_trainval),
        "num_test": int(num_test),
        "seed": int(seed),
        "min_size": int(min_size),
        "max_size": int(max_size),
    }


def generate_synthetic(
    root: Path,
    num_trainval: int,
    num_test: int,
    seed: int,
    min_size: int = 96,
    max_size: int = 192,
) -> Path:
    """Write the dataset at ``root`` atomically (replacing an earlier synthetic one)."""
    root = Path(root)
    params = _params(num_trainval, num_test, seed, min_size, max_size)
    _refuse_foreign(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    built.chmod(0o755)  # mkdtemp makes it private; a dataset should be readable by others
    try:
        _write_dataset(built, params)
        _move_into_place(built, root, params)
    finally:
        shutil.rmtree(built, ignore_errors=True)
    return root


def ensure_synthetic(
    root: Path,
    num_trainval: int,
    num_test: int,
    seed: int,
    min_size: int = 96,
    max_size: int = 192,
) -> Path:
    """Reuse ``root`` when its manifest matches, so repeated runs skip generation."""
    root = Path(root)
    params = _params(num_trainval, num_test, seed, min_size, max_size)
    if read_manifest(root) == params and (root / "annotations" / "test.txt").is_file():
        return root
    return generate_synthetic(root, num_trainval, num_test, seed, min_size, max_size)
