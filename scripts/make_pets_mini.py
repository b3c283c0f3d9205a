"""Build the embedded real subset (``pet_seg/data/oxford-iiit-pet-mini``) from any folder in the
official Oxford-IIIT Pet layout: pictures downsampled with their aspect ratio, trimaps resized
with nearest neighbour, split files cut to what is present, the release's odd files kept.

python scripts/make_pets_mini.py SRC [--out pet_seg/data/oxford-iiit-pet-mini] [--max-side 160]
    [--quality 85]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pet_seg.data import DataError
from pet_seg.data.mini import MINI_ROOT, make_mini


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="a folder holding images/ and annotations/")
    parser.add_argument("--out", type=Path, default=MINI_ROOT)
    parser.add_argument("--max-side", type=int, default=160, help="longer side of each picture")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality")
    args = parser.parse_args()
    try:
        out = make_mini(args.src, args.out, args.max_side, args.quality)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    pairs = len(list((out / "annotations" / "trimaps").glob("*.png")))
    print(f"{pairs} pairs, {size / 1e6:.2f} MB written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
