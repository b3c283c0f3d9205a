"""The lines a run prints so it can be followed from a log: its first line and one per epoch.

Each line goes to stdout whether or not it is a terminal (through ``tqdm.write``, so a
progress bar on a terminal stays below it) and is appended, with the clock time, to the run
folder's ``run.log`` (the file Hydra's own log records go to)::

    [pet_seg] epoch 3/8: train loss 0.4123, val/dice 0.7012, lr 1.00e-03, 12.3 s,
              26.1 images/s, run left ≈ 1 min 02 s        (one line)

``trainer.epoch_lines=false`` keeps them off stdout; ``run.log`` still gets them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pet_seg.distributed import World
from pet_seg.run_folder import RunFolder
from pet_seg.training.conventions import Conventions
from pet_seg.training.settings import TrainerSettings

PREFIX = "[pet_seg]"


def duration(seconds: float) -> str:
    """``42 s``, ``5 min 04 s``, ``2 h 07 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def say(text: str, log_file: Path | None, echo: bool = True) -> None:
    """``[pet_seg] text`` on stdout (when ``echo``) and, time-stamped, at the end of
    ``log_file``."""
    line = f"{PREFIX} {text}"
    if echo:
        tqdm.write(line, file=sys.stdout)
        sys.stdout.flush()  # a pipe or file is block-buffered: flush so `tail -f` sees it now
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def epoch_line(record: Mapping[str, Any], epochs: int, val_dice: str, left_s: float | None) -> str:
    """One epoch record as ``epoch k/N: train loss …, <val_dice> …, lr …, s, images/s, left``."""
    parts = [
        f"epoch {record['epoch']}/{epochs}: train loss {record['train/loss']:.4f}",
        f"{val_dice} {record[val_dice]:.4f}",
        f"lr {record['lr']:.2e}",
        f"{record['time/epoch_s']:.1f} s",
        f"{record['time/train_images_per_s']:.1f} images/s",
    ]
    if left_s is not None:
        parts.append(f"run left ≈ {duration(left_s)}")
    return ", ".join(parts)


class EpochLines:
    """Says one line per finished epoch; the time left is epochs left × their mean time so far.

    The test pass after the last epoch is not in the estimate (one pass over the test split,
    usually shorter than an epoch).
    """

    def __init__(
        self, log_file: Path | None, epochs: int, val_dice: str, echo: bool = True
    ) -> None:
        self.log_file, self.epochs, self.val_dice, self.echo = log_file, epochs, val_dice, echo
        self.seconds: list[float] = []  # epochs timed in this process (a resume starts afresh)

    @classmethod
    def of_run(
        cls, run: RunFolder, settings: TrainerSettings, conventions: Conventions, world: World
    ) -> EpochLines:
        """Lines for this run; under torchrun only rank 0 says anything."""
        log_file = run.run_log if world.is_main else None
        echo = world.is_main and settings.epoch_lines
        return cls(log_file, settings.epochs, conventions.val_dice, echo)

    def epoch(self, record: Mapping[str, Any]) -> None:
        self.seconds.append(float(record["time/epoch_s"]))
        left = (self.epochs - int(record["epoch"])) * sum(self.seconds) / len(self.seconds)
        if self.log_file is not None or self.echo:
            say(epoch_line(record, self.epochs, self.val_dice, left), self.log_file, self.echo)
