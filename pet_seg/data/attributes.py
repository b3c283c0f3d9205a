"""Per-image attributes a result can be broken down by: species, breed, pet share, picture size.

Species and breed come from the split files (``list.txt``, ``trainval.txt``, ``test.txt``; each
line ``<name> <class id> <species 1=cat 2=dog> <breed id>``), the breed's name from the file
name's prefix (``american_bulldog_12`` → ``american_bulldog``). A picture no split file lists
(a custom folder, a renamed file) gets ``"unknown"``, never an error: a breakdown must not be
the thing that fails an evaluation. The pet's share and the original size come from the trimap
at full resolution, which the test pass reads anyway for the trimap-aware scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNKNOWN = "unknown"
SPECIES = {"1": "cat", "2": "dog"}
# list.txt first: it lists every picture; the split files agree with it where both list one.
LISTING_FILES = ("list.txt", "trainval.txt", "test.txt")
NUMBERED = re.compile(r"^(?P<breed>.+)_\d+$")


@dataclass(frozen=True)
class Identity:
    """What the split files say about one picture."""

    species: str = UNKNOWN
    breed: str = UNKNOWN


def breed_name(name: str) -> str:
    """``american_bulldog_12`` → ``american_bulldog``; a name without ``_<number>``: unknown."""
    match = NUMBERED.match(name)
    return match["breed"] if match else UNKNOWN


def read_identities(root: str | Path) -> dict[str, Identity]:
    """Species and breed of every picture any listing file names (missing files are skipped)."""
    found: dict[str, Identity] = {}
    for file_name in LISTING_FILES:
        path = Path(root) / "annotations" / file_name
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) < 4 or line.startswith("#") or fields[0] in found:
                continue
            name, species = fields[0], SPECIES.get(fields[2], UNKNOWN)
            found[name] = Identity(species, breed_name(name))
    return found


def identities_of(root: str | Path, names: list[str]) -> list[Identity]:
    """One ``Identity`` per name, ``unknown`` for names no listing file has."""
    known = read_identities(root)
    return [known.get(name, Identity()) for name in names]


def pet_share(trimap: np.ndarray) -> float:
    """Fraction of the picture that is pet: trimap pixels that are not background (2), i.e. the
    binary mask's foreground (pet and border), at full resolution."""
    return float(np.mean(np.asarray(trimap) != 2))
