"""``python -m pet_seg.report PATH [PATH ...] [--out DIR] [--samples N]``.

Prints where the report went and its Table 1, so the numbers are on screen right after a sweep.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pet_seg.report.build import ReportError, write_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pet_seg.report",
        description="Tables (Markdown + CSV) and comparison plots for sweep or run folders.",
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, help="sweep folders, run folders, or folders above them"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: <PATH>/report when one PATH is given)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=4,
        help="test images per run in the sample grids (0 = none; default 4)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = write_report(args.paths, args.out, samples=args.samples)
    except (ReportError, FileNotFoundError) as err:
        print(f"pet_seg.report: error: {err}", file=sys.stderr)
        return 2
    print(f"[pet_seg] report written to {report.out_dir}")
    print(f"  {report.markdown.name}, {report.csv.name}, runs.csv, {len(report.figures)} figures")
    print()
    print(report.table)
    for note in report.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
