"""Find run folders and read what each one left behind, whatever state it died in.

A run folder is any folder holding ``.hydra/`` or ``summary.json`` (a single run, or one job of
a multirun sweep). Everything is read from local files, never from W&B, and a missing or broken
file downgrades the run's status instead of raising: a sweep with a crashed job must still give
a report that lists the crash.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
TEST_FILE = "test_results.csv"
# Written by ``ReportCallback.on_job_end`` when Hydra saw a job fail before ``summary.json``
# recorded it (e.g. the dataset could not be loaded).
JOB_STATUS_FILE = "job_status.json"
STATUSES = ("finished", "pruned", "failed", "unfinished")


@dataclass
class Run:
    """One run folder as the report sees it."""

    path: Path
    overrides: list[str]
    config: dict[str, Any]
    choices: dict[str, str]
    cwd: Path | None
    summary: dict[str, Any]
    status: str
    note: str
    epochs: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    test_names: list[str] = field(default_factory=list)
    test_dice: np.ndarray | None = None
    label: str = ""
    seed: int | None = None


def is_run_dir(path: Path) -> bool:
    return (path / ".hydra").is_dir() or (path / SUMMARY_FILE).is_file()


def _natural_key(path: Path) -> list[Any]:
    """Sort job folders 0, 1, 2, …, 10 rather than 0, 1, 10, 2."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Run folders at or under ``paths`` (not inside another run folder), in natural order."""
    found: list[Path] = []
    for root in paths:
        if not root.is_dir():
            raise FileNotFoundError(f"not a folder: {root}")
        if is_run_dir(root):
            found.append(root)
            continue
        stack = [root]
        while stack:
            folder = stack.pop()
            for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
                if is_run_dir(child):
                    found.append(child)
                elif child.name not in (".hydra", "report", "wandb", "checkpoints"):
                    stack.append(child)
    unique = {p.resolve(): p for p in found}
    return sorted(unique.values(), key=_natural_key)


def _read_yaml(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return yaml.safe_load(path.read_text()) or default
    except yaml.YAMLError:
        return default


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object, or {} for a missing or half-written file."""
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Epoch records (one per epoch, the later line wins after a resume) and step records."""
    epochs: dict[int, dict[str, Any]] = {}
    steps: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return [], []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
        if not isinstance(record, dict):
            continue
        if record.get("kind") == "epoch" and "epoch" in record:
            epochs[int(record["epoch"])] = record
        elif record.get("kind") == "step" and "step" in record:
            steps[int(record["step"])] = record
    return [epochs[k] for k in sorted(epochs)], [steps[k] for k in sorted(steps)]


def read_test_results(path: Path) -> tuple[list[str], np.ndarray] | None:
    """Image names and per-image Dice from ``test_results.csv``; None if missing or unreadable."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        names = [row["name"] for row in rows]
        dice = np.array([float(row["dice"]) for row in rows], dtype=np.float64)
    except (FileNotFoundError, KeyError, ValueError, TypeError, csv.Error):
        return None
    return (names, dice) if len(dice) else None


def _status(folder: Path, summary: dict[str, Any], has_test: bool, epochs: int) -> tuple[str, str]:
    """(finished | failed | unfinished, why) from the summary and what files exist."""
    state = summary.get("status")
    if state == "finished":
        if has_test:
            return "finished", ""
        return "unfinished", f"summary says finished but {TEST_FILE} is missing or unreadable"
    if state == "failed":
        return "failed", str(summary.get("error", "no error recorded"))
    if state == "pruned":  # stopped early by an Optuna search's pruner (pet_seg.search)
        return "pruned", str(summary.get("error", "pruned"))
    job = _read_json(folder / JOB_STATUS_FILE)
    if job.get("status") == "failed":
        return "failed", str(job.get("error", "no error recorded"))
    if state == "interrupted":
        return "unfinished", f"interrupted ({summary.get('error', 'KeyboardInterrupt')})"
    where = f"{epochs} epoch(s) logged"
    if state == "running":
        return "unfinished", f"status still 'running' (killed, or still training); {where}"
    if not summary:
        return "unfinished", f"no readable {SUMMARY_FILE} (killed early, or not started); {where}"
    return "unfinished", f"unknown status {state!r}; {where}"


def load_run(folder: Path) -> Run:
    """Read one run folder; never raises for missing or damaged files."""
    hydra = _read_yaml(folder / ".hydra" / "hydra.yaml", {}).get("hydra", {}) or {}
    runtime = hydra.get("runtime", {}) or {}
    config = _read_yaml(folder / "config.yaml", {}) or _read_yaml(
        folder / ".hydra" / "config.yaml", {}
    )
    summary = _read_json(folder / SUMMARY_FILE)
    epochs, steps = read_metrics(folder / METRICS_FILE)
    test = read_test_results(folder / TEST_FILE)
    status, note = _status(folder, summary, test is not None, len(epochs))
    run = Run(
        path=folder,
        overrides=[str(o) for o in _read_yaml(folder / ".hydra" / "overrides.yaml", [])],
        config=config if isinstance(config, dict) else {},
        choices={str(k): str(v) for k, v in (runtime.get("choices") or {}).items()},
        cwd=Path(runtime["cwd"]) if runtime.get("cwd") else None,
        summary=summary,
        status=status,
        note=note,
        epochs=epochs,
        steps=steps,
    )
    if test is not None:
        run.test_names, run.test_dice = test
    return run


def discover_runs(paths: list[Path]) -> list[Run]:
    """Every run folder at or under ``paths``, read."""
    return [load_run(folder) for folder in find_run_dirs(paths)]
