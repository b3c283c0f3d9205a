"""Where a sweep stands: which job this is (``job 2/4``), how long the rest should take, and at
its end, its wall time beside the plan's estimate.

The estimate starts from the plan (``<sweep>/plan.json``: minutes per job from a speed measured
on this machine when the sweep began) and is corrected by the jobs already finished: their
measured ``train_time_s`` over their planned time scales the plan of the jobs left. Without a
plan, the jobs left take the mean time of the finished ones. Job folders are read by their
number (Hydra's default ``hydra.sweep.subdir``); the count of jobs comes from the basic
sweeper's ``multirun.yaml``, so another sweeper's job just says ``job 3``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pet_seg.run_folder import RunFolder, write_json_atomic
from pet_seg.run_log import duration
from pet_seg.sweep_jobs import known_jobs

log = logging.getLogger(__name__)
DONE = ("finished", "failed", "interrupted")


@dataclass(frozen=True)
class SweepPosition:
    """Job ``number`` (0-based) of ``total`` (None: unknown), and the sweep's time left."""

    number: int
    total: int | None
    left_s: float | None = None
    basis: str = ""  # how left_s was estimated

    def describe(self) -> str:
        """``job 2/4``; the time left is said by ``left``."""
        return f"job {self.number + 1}" + ("" if self.total is None else f"/{self.total}")

    def left(self) -> str:
        """``sweep left ≈ 3 min 10 s (plan × 1.20 from 1 finished job)``, or '' if unknown."""
        if self.left_s is None:
            return ""
        return f"sweep left ≈ {duration(self.left_s)} ({self.basis})"


def sweep_size(sweep: Path) -> int | None:
    """How many jobs the basic sweeper launches, from the ``multirun.yaml`` it wrote."""
    path = sweep / "multirun.yaml"
    jobs = known_jobs(OmegaConf.load(path)) if path.is_file() else None
    return None if jobs is None else len(jobs)


def planned_seconds(sweep: Path) -> list[float | None] | None:
    """Each job's planned seconds from ``<sweep>/plan.json`` (None where not estimated)."""
    try:
        runs = json.loads((sweep / "plan.json").read_text())["runs"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        return None
    return [None if r.get("minutes") is None else 60 * float(r["minutes"]) for r in runs]


def finished_jobs(sweep: Path) -> tuple[set[int], dict[int, float]]:
    """The numbers of the jobs that are done, and the measured seconds of the finished ones."""
    done: set[int] = set()
    seconds: dict[int, float] = {}
    for folder in sweep.iterdir() if sweep.is_dir() else ():
        if not folder.name.isdigit():
            continue
        run = RunFolder(folder)
        summary = run.read_summary()
        status = summary.get("status") or json_status(run)
        if status in DONE:
            done.add(int(folder.name))
        if status == "finished" and summary.get("train_time_s") is not None:
            seconds[int(folder.name)] = float(summary["train_time_s"])
    return done, seconds


def json_status(run: RunFolder) -> str | None:
    """A failure the sweep's report callback recorded for a job that died before training."""
    try:
        return json.loads(run.job_status.read_text()).get("status")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def sweep_left(
    total: int, done: set[int], measured: dict[int, float], planned: list[float | None] | None
) -> tuple[float | None, str]:
    """Seconds the jobs not done yet should take, and how that was worked out."""
    left = [j for j in range(total) if j not in done]
    if planned is not None and len(planned) == total and all(planned[j] for j in left):
        base = sum(planned[j] for j in left)
        pairs = [(measured[j], planned[j]) for j in measured if j < total and planned[j]]
        if not pairs:
            return base, "plan's measured speed"
        factor = sum(m for m, _ in pairs) / sum(p for _, p in pairs)
        return base * factor, f"plan × {factor:.2f} from {_jobs(len(pairs))}"
    if measured:
        mean = sum(measured.values()) / len(measured)
        return mean * len(left), f"mean of {_jobs(len(measured))}"
    return None, ""


def _jobs(count: int) -> str:
    return f"{count} finished job" + ("" if count == 1 else "s")


def sweep_position(hydra_cfg: DictConfig) -> SweepPosition:
    """This job's place in the sweep (Hydra's config of a multirun job); just its number when
    the rest cannot be worked out, since a progress line must never stop a job."""
    sweep, number = Path(hydra_cfg.sweep.dir), int(hydra_cfg.job.num)
    try:
        total = sweep_size(sweep)
        if total is None:
            return SweepPosition(number, None)
        done, measured = finished_jobs(sweep)
        left_s, basis = sweep_left(total, done - {number}, measured, planned_seconds(sweep))
    except Exception as err:  # an unexpected sweeper or folder layout
        log.warning("pet_seg: sweep progress unknown: %s: %s", type(err).__name__, err)
        return SweepPosition(number, None)
    return SweepPosition(number, total, left_s, basis)


def sweep_end_line(sweep: Path, wall_s: float) -> str:
    """``sweep done in 13 min 04 s wall time, 4 jobs finished; the plan estimated ≈ …``, and
    the same numbers into plan.json."""
    _, measured = finished_jobs(sweep)
    line = f"sweep done in {duration(wall_s)} wall time, {_jobs(len(measured))}"
    path = sweep / "plan.json"
    try:
        payload = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return f"{line} (no plan.json to compare with)"
    for number, run in enumerate(payload.get("runs", [])):
        run["measured_s"] = measured.get(number)  # training + validation, as train_time_s
    payload["measured_wall_s"] = round(wall_s, 1)
    write_json_atomic(path, payload)
    total = payload.get("total_minutes")
    if total is None:
        return f"{line}; the plan has no estimate (plan.json: measured_wall_s)"
    return (
        f"{line}; the plan estimated ≈ {duration(60 * total)} of runs "
        f"(plan.json: total_minutes {total:.2f}, measured_wall_s {wall_s:.0f})"
    )
