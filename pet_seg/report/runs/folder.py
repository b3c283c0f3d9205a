"""Find run folders and read what each one left behind, whatever state it died in.

A run folder is any folder holding ``.hydra/`` or ``summary.json`` (a single run, or one job of
a multirun sweep); ``pet_seg.run_folder.RunFolder`` says where each file is. Everything is
read from local files, never from W&B, and a missing or broken file downgrades the run's status
instead of raising: a sweep with a crashed job must still give a report that lists the crash.
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

from pet_seg.run_folder import INNER_FOLDERS, RunFolder, read_json_object

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


def _natural_key(path: Path) -> list[Any]:
    """Sort job folders 0, 1, 2, …, 10 rather than 0, 1, 10, 2."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Run folders at or under ``paths`` (not inside another run folder), in natural order."""
    found: list[Path] = []
    for root in paths:
        if not root.is_dir():
            raise FileNotFoundError(f"not a folder: {root}")
        if RunFolder.is_run(root):
            found.append(root)
            continue
        stack = [root]
        while stack:
            folder = stack.pop()
            for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
                if RunFolder.is_run(child):
                    found.append(child)
                elif child.name not in INNER_FOLDERS:
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


def _status(
    folder: RunFolder, summary: dict[str, Any], has_test: bool, epochs: int
) -> tuple[str, str]:
    """(finished | failed | unfinished, why) from the summary and what files exist."""
    state = summary.get("status")
    if state == "finished":
        if has_test:
            return "finished", ""
        missing = folder.test_results.name
        return "unfinished", f"summary says finished but {missing} is missing or unreadable"
    if state == "failed":
        return "failed", str(summary.get("error", "no error recorded"))
    if state == "pruned":  # stopped early by an Optuna search's pruner (pet_seg.search)
        return "pruned", str(summary.get("error", "pruned"))
    job = read_json_object(folder.job_status)
    if job.get("status") == "failed":
        return "failed", str(job.get("error", "no error recorded"))
    if state == "interrupted":
        return "unfinished", f"interrupted ({summary.get('error', 'KeyboardInterrupt')})"
    where = f"{epochs} epoch(s) logged"
    if state == "running":
        return "unfinished", f"status still 'running' (killed, or still training); {where}"
    if not summary:
        name = folder.summary.name
        return "unfinished", f"no readable {name} (killed early, or not started); {where}"
    return "unfinished", f"unknown status {state!r}; {where}"


def load_run(path: Path) -> Run:
    """Read one run folder; never raises for missing or damaged files."""
    folder = RunFolder(path)
    hydra = _read_yaml(folder.hydra / "hydra.yaml", {}).get("hydra", {}) or {}
    runtime = hydra.get("runtime", {}) or {}
    config = _read_yaml(folder.config, {}) or _read_yaml(folder.hydra / "config.yaml", {})
    summary = folder.read_summary()
    epochs, steps = read_metrics(folder.metrics)
    test = read_test_results(folder.test_results)
    status, note = _status(folder, summary, test is not None, len(epochs))
    run = Run(
        path=path,
        overrides=[str(o) for o in _read_yaml(folder.hydra / "overrides.yaml", [])],
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
