"""One run's folder: the single place that knows what a run leaves on disk and under which name.

Training writes it, and the report, ``evaluate``, ``predict``, resume and the sweep callbacks
read it, so every one of them asks this object for a path instead of spelling file names::

    <run>/config.yaml            the resolved config
    <run>/summary.json           status, Table-1 numbers, conventions, disk use (rewritten whole)
    <run>/metrics.jsonl          one JSON line per optimizer step and per epoch
    <run>/run.log                the run's first line and one line per epoch (and Hydra's log)
    <run>/test_results.csv       per-image test scores of the best checkpoint
    <run>/calibration.json       test (and val) probability bins: ECE, Dice by threshold
    <run>/job_status.json        a failure the run itself could not record (sweep callback)
    <run>/checkpoints/best.pt    weights + config (evaluate, predict, report)
    <run>/checkpoints/last.pt    everything resume needs, removed once the run has finished
    <run>/eval/<name>/           ``python -m pet_seg.evaluate`` results
    <run>/report/                the run's (or sweep's) report
    <run>/.hydra/, <run>/wandb/  Hydra's and W&B's own files
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Folders inside a run folder that never hold another run (the report's search skips them).
INNER_FOLDERS = (".hydra", "checkpoints", "eval", "report", "wandb")


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run's files, and its ``summary.json`` read and written safely."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path) -> RunFolder:
        """The run a checkpoint belongs to: the folder above ``checkpoints/``."""
        checkpoint = Path(checkpoint)
        parent = checkpoint.parent
        return cls(parent.parent if parent.name == "checkpoints" else parent)

    @staticmethod
    def is_run(path: Path) -> bool:
        """A run (or a sweep job) has Hydra's ``.hydra/`` or pet_seg's ``summary.json``."""
        return (path / ".hydra").is_dir() or (path / "summary.json").is_file()

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def hydra(self) -> Path:
        return self.path / ".hydra"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def run_log(self) -> Path:
        return self.path / "run.log"

    @property
    def test_results(self) -> Path:
        return self.path / "test_results.csv"

    @property
    def calibration(self) -> Path:
        return self.path / "calibration.json"

    @property
    def job_status(self) -> Path:
        return self.path / "job_status.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def report(self) -> Path:
        return self.path / "report"

    def eval_dir(self, name: str) -> Path:
        return self.path / "eval" / name

    def read_summary(self) -> dict[str, Any]:
        """``summary.json`` as a dict; {} when it is missing or was cut short by a kill."""
        return read_json_object(self.summary)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Rewrite ``summary.json`` whole (temp + rename), so a reader never sees half a file."""
        write_json_atomic(self.summary, summary)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or {} for a missing, half-written or non-object file."""
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json_atomic(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` as indented JSON through a temp file renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    tmp.replace(path)


@dataclass(frozen=True)
class EvalFolder:
    """What ``python -m pet_seg.evaluate`` writes: by default ``<run>/eval/<split>[-tta]…``."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def per_image(self) -> Path:
        return self.path / "per_image.csv"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def calibration(self) -> Path:
        return self.path / "calibration.json"

    @property
    def masks(self) -> Path:
        return self.path / "masks"

    def panels(self, which: str) -> Path:
        """``worst.png`` / ``best.png``."""
        return self.path / f"{which}.png"
