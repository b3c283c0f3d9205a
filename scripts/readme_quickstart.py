"""Rewrite the README's quickstart block from a finished quickstart sweep.

    make quickstart
    python scripts/readme_quickstart.py outputs/multirun/quickstart/<time> [--machine TEXT]

The block between ``<!-- quickstart:begin -->`` and ``<!-- quickstart:end -->`` gets the sweep's
Table 1 (from ``report/report.csv``), its wall time (``plan.json``), the date it finished and
the machine, and one figure (the sample grid of the best run, else the validation-Dice curves)
is copied to ``docs/quickstart.png``. Numbers are only ever written from a sweep folder, so the
README never shows a figure nobody measured. The machine is the one this script runs on (its
CPU model, core count and torch version): run it where the sweep ran, or say so with --machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

BEGIN, END = "<!-- quickstart:begin -->", "<!-- quickstart:end -->"
ROOT = Path(__file__).resolve().parents[1]
FIGURE = Path("docs/quickstart.png")


def this_machine() -> str:
    """``2 CPUs of an AMD EPYC 7B13 (AVX2 only), torch 2.x``: what a reader needs to compare.

    The vector extensions matter: fp32 numbers differ a little between CPUs that sum in another
    order, and bf16 is fast only with AVX-512 BF16 or AMX.
    """
    import torch

    cpu, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text()
        names = re.findall(r"(?m)^model name\s*:\s*(.+)$", text)
        cpu = names[0].strip() if names else cpu
        first = re.search(r"(?m)^flags\s*:\s*(.+)$", text)
        flags = set(first.group(1).split()) if first else set()
    if "amx_bf16" in flags:
        vector = " (AMX)"
    elif "avx512_bf16" in flags:
        vector = " (AVX-512 BF16)"
    elif "avx512f" in flags:
        vector = " (AVX-512)"
    elif "avx2" in flags:
        vector = " (AVX2 only)"
    else:
        vector = ""
    article = "an" if cpu[:1].lower() in "aeiou" else "a"
    return f"{os.cpu_count()} CPUs of {article} {cpu}{vector}, torch {torch.__version__}"


def read_rows(sweep: Path) -> list[dict[str, str]]:
    path = sweep / "report" / "report.csv"
    if not path.exists():
        raise SystemExit(f"{path} not found: give the folder of a finished quickstart sweep")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def wall_time(sweep: Path) -> str | None:
    """The sweep's measured wall time from ``plan.json``, as ``13 min 04 s``."""
    plan = sweep / "plan.json"
    seconds = json.loads(plan.read_text()).get("measured_wall_s") if plan.exists() else None
    if seconds is None:
        return None
    minutes, rest = divmod(round(float(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def _number(text: str, fmt: str) -> str:
    return fmt.format(float(text)) if text else "—"


def table(rows: list[dict[str, str]]) -> list[str]:
    lines = [
        "| run | test Dice mean | median | min | best val Dice | train time |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row["label"],
            _number(row["test_dice_mean"], "{:.4f}"),
            _number(row["test_dice_median"], "{:.4f}"),
            _number(row["test_dice_min"], "{:.4f}"),
            _number(row["best_val_dice"], "{:.4f}"),
            _number(row["train_time_s"], "{:.0f} s"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def pick_figure(sweep: Path, rows: list[dict[str, str]]) -> tuple[Path, str] | None:
    """The best run's sample grid (image, truth, probability, mask), else the val-Dice curves."""
    from pet_seg.report.render.samples import slug

    scored = [r for r in rows if r["test_dice_mean"]]
    if scored:
        best = max(scored, key=lambda r: float(r["test_dice_mean"]))
        grid = sweep / "report" / f"samples_{slug(best['label'])}.png"
        if grid.exists():
            caption = f"{best['label']} on the first test images: image, truth, probability, mask"
            return grid, caption
    curves = sweep / "report" / "curves_val_dice.png"
    return (curves, "validation Dice per epoch, one line per run") if curves.exists() else None


def block(
    sweep: Path, rows: list[dict[str, str]], machine: str, figure: tuple[Path, str] | None
) -> str:
    """The README's block: the date and machine, Table 1 and the figure, between the markers."""
    finished = datetime.fromtimestamp(
        (sweep / "report" / "report.csv").stat().st_mtime, tz=timezone.utc
    )
    took = wall_time(sweep)
    lines = [
        BEGIN,
        "<!-- written by scripts/readme_quickstart.py from a quickstart sweep; do not edit -->",
        f"Measured on {finished:%Y-%m-%d} on {machine}"
        + (f"; the sweep took {took} of wall time:" if took else ":"),
        "",
        *table(rows),
    ]
    if figure:
        lines += ["", f"![{figure[1]}]({FIGURE.as_posix()})"]
    return "\n".join([*lines, END])


def rewrite(readme: Path, new_block: str) -> str:
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no {BEGIN} … {END} block")
    return pattern.sub(lambda _: new_block, text, count=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a finished quickstart sweep folder")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--machine", help="where the sweep ran (default: this machine)")
    args = parser.parse_args(argv)
    rows = read_rows(args.sweep)
    figure = pick_figure(args.sweep, rows)
    new_block = block(args.sweep, rows, args.machine or this_machine(), figure)
    args.readme.write_text(rewrite(args.readme, new_block))
    if figure:
        shutil.copyfile(figure[0], args.readme.parent / FIGURE)
    print(f"{args.readme}: quickstart block rewritten from {args.sweep} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
