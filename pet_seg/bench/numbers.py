"""Does a faster setting change what a run learns? Train both arms with seeds and collect them.

fp32 numbers are not identical across CPUs, and every faster setting (one thread per job,
channels_last, bf16) changes the order of floating-point reductions, so "the same digits" cannot
be the test. The test is the toolkit's own configuration-level comparison: each arm is one
Hydra sweep over ``trainer.seed`` of the same configuration, A with today's settings and B with
the candidate, and the (seeds, test images) matrices of per-image test Dice go to the verdicts
module (``scripts/bench.py --check-numbers`` does that step).

Each arm runs as a user runs it, ``python -m pet_seg.run -m``, so a candidate that is a
launcher (``hydra/launcher=parallel``: two one-thread jobs at once) is checked as it trains.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from pet_seg.paths import CONF_DIR

# A short quickstart run that a busy 2-core machine trains 3 + 3 times within the hour: the real
# pets at 64 px, a quarter-width UNet (the quickstart's slow model, at 1/16 of the arithmetic),
# batch 16 so that few steps carry it (and few test batches), one-cycle. Every CPU kernel the
# quickstart runs, runs here.
CHECK_CONFIG = (
    "experiment=quickstart", "model=unet", "model.base_channels=16", "scheduler=onecycle",
    "trainer.batch_size=16", "trainer.eval_batch_size=100",
)  # fmt: skip
CHECK_EPOCHS = 2
# Off in the arms: the sweep report, the plan's speed measurement, W&B images. They cost time
# and do not touch the trained weights or the test scores.
QUIET = ("~hydra.callbacks.report", "hydra.callbacks.plan.measure=false", "trainer.progress=false")


@dataclass(frozen=True)
class Arm:
    """One side of the comparison: a name and the Hydra overrides that make it."""

    name: str
    overrides: tuple[str, ...] = ()


@dataclass
class ArmResult:
    """One arm's per-image test Dice: ``scores[s, i]`` = seed ``seeds[s]`` on ``names[i]``."""

    arm: Arm
    seeds: list[int]
    names: list[str]
    scores: np.ndarray
    wall_s: float
    runs: list[dict[str, Any]] = field(default_factory=list)


def parse_arm(text: str, name: str) -> Arm:
    """``"hydra/launcher=parallel trainer.channels_last=true"`` → an Arm (space-separated)."""
    return Arm(name, tuple(text.split()))


def arm_command(
    arm: Arm, seeds: list[int], sweep_dir: Path, config: tuple[str, ...], epochs: int
) -> list[str]:
    """The ``python -m pet_seg.run -m`` line training ``arm`` once per seed into ``sweep_dir``."""
    return [
        sys.executable, "-m", "pet_seg.run", "-m", *config, f"trainer.epochs={epochs}",
        f"trainer.seed={','.join(str(s) for s in seeds)}", *QUIET, *arm.overrides,
        f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip


def read_per_image(run_dir: Path) -> tuple[list[str], np.ndarray]:
    """Image names and per-image test Dice from a run's ``test_results.csv``."""
    with (run_dir / "test_results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["name"] for row in rows], np.array([float(row["dice"]) for row in rows])


def run_arm(
    arm: Arm, seeds: list[int], out_dir: Path, config: tuple[str, ...] = CHECK_CONFIG,
    epochs: int = CHECK_EPOCHS, env: dict[str, str] | None = None,
) -> ArmResult:  # fmt: skip
    """Train ``arm`` once per seed (one sweep) and read every run's per-image test Dice."""
    sweep_dir = out_dir / arm.name
    command = arm_command(arm, seeds, sweep_dir, config, epochs)
    print(f"[check-numbers] {arm.name}: {' '.join(command[2:])}", file=sys.stderr)
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, **(env or {})}, cwd=_repo_root())
    wall_s = time.perf_counter() - started
    names: list[str] | None = None
    rows, runs = [], []
    for job, seed in enumerate(seeds):  # the sweep numbers its jobs in the order of the seeds
        run_dir = sweep_dir / str(job)
        recorded = OmegaConf.load(run_dir / "config.yaml").trainer.seed
        if recorded != seed:
            raise ValueError(f"{run_dir} trained seed {recorded}, expected {seed}")
        run_names, dice = read_per_image(run_dir)
        if names is not None and run_names != names:
            raise ValueError(f"{run_dir}: test images differ from the first seed's")
        names = run_names
        rows.append(dice)
        runs.append({"seed": seed, "dir": str(run_dir), "test_dice_mean": float(dice.mean())})
    return ArmResult(arm, list(seeds), names or [], np.vstack(rows), wall_s, runs)


def _repo_root() -> Path:
    """The checkout holding ``conf/`` (so a worktree's pet_seg trains its own code)."""
    return Path(CONF_DIR).resolve().parent
