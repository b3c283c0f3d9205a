"""``python -m pet_seg.report PATH [PATH ...] [--out DIR] [--samples N] [--wandb-report]``.

Prints where the report went and its Table 1, so the numbers are on screen right after a sweep.
``--wandb-report`` also saves a W&B Report over the sweep's group (online; offline runs need
``wandb sync`` first), with the project, entity and group found in the sweep folder unless given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pet_seg.report.build import Report, ReportError, write_report
from pet_seg.report.publish.wandb_run import report_to_wandb, runs_logger
from pet_seg.report.statistics.comparisons import TARGET_DIFFERENCE


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
    parser.add_argument(
        "--difference",
        type=float,
        default=TARGET_DIFFERENCE,
        help="the test-Dice difference 'how many seeds' is sized for (default %(default)s)",
    )
    wandb = parser.add_argument_group("W&B Report (needs W&B online and wandb-workspaces)")
    wandb.add_argument(
        "--wandb-report", action="store_true", help="save a W&B Report for the sweep's group"
    )
    wandb.add_argument(
        "--wandb-run",
        action="store_true",
        help="log the report as a job_type=report W&B run in the sweep's group, through the "
        "logger its runs used (what a sweep does at its end)",
    )
    for name in ("project", "entity", "group"):
        wandb.add_argument(f"--{name}", default=None, help=f"W&B {name} (default: the sweep's)")
    return parser.parse_args(argv)


def publish(report: Report, args: argparse.Namespace) -> None:
    """Build and save the W&B Report (the import pulls in wandb-workspaces only when asked)."""
    try:
        from pet_seg.report.publish.workspace import save_report, spec_for
    except ImportError as err:
        raise ReportError(f"{err}; install it with: pip install 'pet_seg[workspaces]'") from err

    try:
        spec = spec_for(report, project=args.project, entity=args.entity, group=args.group)
        print(f"[pet_seg] saving W&B Report '{spec.title}' to {spec.entity}/{spec.project}")
        url = save_report(spec)
    except Exception as err:  # offline, not logged in, unknown project: W&B raises many types
        raise ReportError(
            f"the W&B Report could not be saved ({type(err).__name__}: {err}); it needs W&B "
            "online (`wandb login`) and the sweep's runs synced (`wandb sync`)"
        ) from err
    print(f"[pet_seg] W&B Report saved: {url}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = write_report(args.paths, args.out, args.samples, args.difference)
    except (ReportError, FileNotFoundError) as err:
        print(f"pet_seg.report: error: {err}", file=sys.stderr)
        return 2
    print(f"[pet_seg] report written to {report.out_dir}")
    print(
        f"  {report.markdown.name}, {report.csv.name}, runs.csv, comparisons.csv, "
        f"{len(report.figures)} figures"
    )
    print()
    print(report.table)
    for note in report.notes:
        print(f"note: {note}")
    info = None
    if args.wandb_run:
        start, name, group = runs_logger(report)
        info = report_to_wandb(report, start, name=name, group=args.group or group)
    if args.wandb_report and not (info and info["mode"] == "online"):  # that one published
        try:
            publish(report, args)
        except ReportError as err:
            print(f"pet_seg.report: error: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
