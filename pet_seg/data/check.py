"""``python -m pet_seg.data.check <root>``: every problem of a dataset folder, one line per file.

Training stops at the first bad sample; before a long run (or after a partial download) it is
kinder to list everything that is wrong. Exit code 1 with one line per problem, or 0 and
"OK: N images checked". What the real release carries harmlessly (``.mat`` and ``._*`` files,
unlisted pictures, a PNG named ``.jpg``) is printed as warnings and does not fail the check.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from pet_seg.data.oxford_pet import (
    DataError,
    fix_hint,
    image_path,
    read_image,
    read_split,
    read_trimap,
    size_mismatch,
    split_file,
    trimap_path,
    trimap_to_mask,
)

LINE = re.compile(r"^\S+ \d+ \d+ \d+$")
# File signatures: the release has a PNG and a GIF named .jpg, which decode fine.
SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG", b"GIF8": "GIF"}


def _check_split_files(root: Path) -> list[str]:
    """Missing split files and malformed lines (the loader only needs the first token)."""
    problems = []
    for split in ("train", "test"):
        path = split_file(root, split)
        if not path.is_file():
            problems.append(f"{path}: split file missing. {fix_hint(root)}")
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip() and not line.startswith("#") and not LINE.match(line.strip()):
                problems.append(
                    f"{path}:{number}: expected '<name> <class id> <species> <breed id>', "
                    f"got {line!r}"
                )
    return problems


def _check_sample(root: Path, name: str) -> list[str]:
    """Every problem of one image/trimap pair (not just the first)."""
    problems, image, trimap = [], None, None
    image_file, trimap_file = image_path(root, name), trimap_path(root, name)
    try:
        image = read_image(image_file)
    except DataError as err:
        problems.append(str(err))
    try:
        trimap = read_trimap(trimap_file)
        trimap_to_mask(np.asarray(trimap), source=trimap_file)
    except DataError as err:
        problems.append(str(err))
    if image is not None and trimap is not None and image.size != trimap.size:
        problems.append(size_mismatch(image_file, trimap_file, image.size, trimap.size))
    return problems


def _split_names(root: Path, val_every: int) -> tuple[list[str], list[str]]:
    """All listed names (train, val, test order, unique) and problems with the split sizes."""
    splits = {}
    for split in ("train", "val", "test"):
        try:
            splits[split] = read_split(root, split, val_every)
        except DataError:
            splits[split] = []  # already reported by _check_split_files
    problems = []
    trainval = splits["train"] + splits["val"]
    if split_file(root, "train").is_file() and (not splits["train"] or not splits["val"]):
        problems.append(
            f"{split_file(root, 'train')}: {len(trainval)} lines with val_every={val_every} "
            f"give {len(splits['train'])} train and {len(splits['val'])} val images; need both."
        )
    for name in sorted(set(trainval) & set(splits["test"])):
        problems.append(f"{name}: listed in both trainval.txt and test.txt (test leak)")
    names = list(dict.fromkeys(trainval + splits["test"]))
    return names, problems


def check_dataset(root: str | Path, val_every: int = 10) -> list[str]:
    """Every problem found under ``root``; an empty list means the dataset is usable."""
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: dataset folder not found. {fix_hint(root)}"]
    problems = _check_split_files(root)
    folders = (root / "images", root / "annotations" / "trimaps")
    missing = [folder for folder in folders if not folder.is_dir()]
    if missing:  # one line per folder, not one per listed image
        return problems + [f"{folder}: folder missing. {fix_hint(root)}" for folder in missing]
    names, split_problems = _split_names(root, val_every)
    problems += split_problems
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for sample_problems in pool.map(lambda name: _check_sample(root, name), names):
            problems += sample_problems
    return problems


def _format_of(path: Path) -> str | None:
    with path.open("rb") as handle:
        head = handle.read(4)
    return next((fmt for sig, fmt in SIGNATURES.items() if head.startswith(sig)), None)


def _listed_anywhere(root: Path) -> set[str]:
    names = set()
    for name in ("trainval.txt", "test.txt", "list.txt"):
        path = root / "annotations" / name
        if path.is_file():
            lines = path.read_text().splitlines()
            names |= {line.split()[0] for line in lines if line.strip() and line[0] != "#"}
    return names


def _shown(names: list[str], limit: int = 6) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def harmless_oddities(root: str | Path) -> list[str]:
    """What the real release carries that the loader ignores or copes with: warnings, not errors.

    The official tarballs hold ``.mat`` files in ``images/``, macOS ``._*`` files, pictures in no
    split file, and a PNG and a GIF named ``.jpg``; a checker that failed on them would fail on
    every real download.
    """
    root = Path(root)
    images = root / "images"
    if not images.is_dir():
        return []
    files = sorted(p for p in images.iterdir() if p.is_file())
    pictures = [p for p in files if p.suffix.lower() == ".jpg" and not p.name.startswith("._")]
    notes = []
    others = [p.name for p in files if p not in pictures]
    if others:
        notes.append(
            f"{images}: {len(others)} file(s) that are not .jpg pictures, ignored: {_shown(others)}"
        )
    apple = sorted(p.name for p in (root / "annotations").rglob("._*"))
    if apple:
        notes.append(
            f"{root / 'annotations'}: {len(apple)} macOS '._*' file(s), ignored: {_shown(apple)}"
        )
    unlisted = [p.stem for p in pictures if p.stem not in _listed_anywhere(root)]
    if unlisted:
        notes.append(f"{len(unlisted)} picture(s) in no split file, not used: {_shown(unlisted)}")
    for path in pictures:
        fmt = _format_of(path)
        if fmt not in (None, "JPEG"):
            notes.append(f"{path}: really a {fmt} file named .jpg; decoded as {fmt}, harmless")
    return notes


def count_listed(root: str | Path, val_every: int = 10) -> int:
    return len(_split_names(Path(root), val_every)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check an Oxford-IIIT Pet folder.")
    parser.add_argument("root", type=Path, help="folder holding images/ and annotations/")
    parser.add_argument("--val-every", type=int, default=10)
    args = parser.parse_args(argv)
    for note in harmless_oddities(args.root):
        print(f"warning: {note}")
    problems = check_dataset(args.root, args.val_every)
    if problems:
        print("\n".join(problems))
        print(f"{len(problems)} problem(s) found in {args.root}", file=sys.stderr)
        return 1
    print(f"OK: {count_listed(args.root, args.val_every)} images checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
