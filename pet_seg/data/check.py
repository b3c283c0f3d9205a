"""``python -m pet_seg.data.check <root>``: list every problem of a dataset folder.

Exit code 1 with one line per problem, or 0 and "OK: N images checked". What the real release
carries harmlessly (``.mat`` and ``._*`` files, unlisted pictures, a PNG named ``.jpg``) is
printed as warnings and does not fail the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pet_seg.data.validate import check_dataset, count_listed, harmless_oddities


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
