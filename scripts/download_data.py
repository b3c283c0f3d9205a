"""Download Oxford-IIIT Pet (images + trimaps, ~800 MB) into the layout the loader reads.

python scripts/download_data.py [--root data/oxford-iiit-pet]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pet_seg.data import DataError, download_oxford_pet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/oxford-iiit-pet"))
    args = parser.parse_args()
    try:
        root = download_oxford_pet(args.root)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"Oxford-IIIT Pet ready in {root}; check it with `python -m pet_seg.data.check {root}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
