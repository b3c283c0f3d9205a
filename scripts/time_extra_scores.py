"""Time the test pass with and without the extra scores (``pet_seg.extra_scores``).

A full-width UNet at 64 px on the shipped pets' 298 test images (weights untouched: the time
does not depend on them), the way a quickstart run tests: score_loader, batch 8. Prints wall
and CPU seconds of the plain pass, the pass with the extras, and the validation pass that
picks the threshold::

    python scripts/time_extra_scores.py [--device cpu|cuda] [--threads 2] [--repeats 3] [--hd95]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from pet_seg.calibration import calibration_record
from pet_seg.data import load_splits
from pet_seg.extra_scores import ExtraScores, validation_bins
from pet_seg.models import UNet
from pet_seg.scoring import score_loader


def clock(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hd95", action="store_true", help="also the (off by default) HD95")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = load_splits(root=None, image_size=64)
    model = UNet().to(device).eval()
    test = DataLoader(data["test"], batch_size=args.batch_size)
    val = DataLoader(data["val"], batch_size=args.batch_size)
    criterion = nn.BCEWithLogitsLoss()
    score_loader(model, criterion, test, device)  # warm-up

    def with_extras() -> None:  # what run.py adds: the observed test pass and a val pass
        extras = ExtraScores.of(data["test"], with_hd95=args.hd95)
        score_loader(model, criterion, test, device, observe=extras)
        calibration_record(extras.bins, validation_bins(model, val, device))
        extras.columns()

    for rep in range(args.repeats):
        plain = clock(lambda: score_loader(model, criterion, test, device))
        full = clock(with_extras)
        extra = full[0] - plain[0]
        print(
            f"{args.device} rep {rep}: test pass {plain[0]:.2f} s (cpu {plain[1]:.2f}); with "
            f"extras and the validation pass {full[0]:.2f} s (cpu {full[1]:.2f}): "
            f"+{extra:.2f} s = {extra / plain[0]:+.0%} of the test pass",
            flush=True,
        )


if __name__ == "__main__":
    main()
