"""Name runs by what differs between them, and group repeated seeds.

Folder names (``0``, ``1``, …) say nothing; the sweep's overrides do. A run's label lists the
override keys whose value is not the same across all runs of the report, e.g.
``model=unet, scheduler=cosine``. A key one run overrides and another leaves at its default is
compared through the config group choice Hydra recorded (or the resolved config value), so
``augmentation=none`` vs the default ``flip_jitter`` still shows. Seed keys never enter the
label: runs equal but for the seed share a label and are averaged as mean ± std.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pet_seg.report.runs.folder import Run
from pet_seg.run_label import parse_override, run_label

SEED_KEYS = ("trainer.seed",)
MISSING = "∅"


def _select(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def effective_value(run: Run, key: str) -> str:
    """The value ``key`` had in ``run``: its override, else the group choice or config value."""
    for text in run.overrides:
        name, value = parse_override(text)
        if name == key:
            return value
    if key in run.choices:
        return run.choices[key]
    value = _select(run.config, key)
    return MISSING if value is MISSING else str(value)


def override_keys(runs: Sequence[Run]) -> list[str]:
    """Every overridden key of any run, in first-seen order."""
    keys: dict[str, None] = {}
    for run in runs:
        for text in run.overrides:
            keys.setdefault(parse_override(text)[0], None)
    return list(keys)


def differing_keys(runs: Sequence[Run]) -> list[str]:
    """Override keys whose effective value is not the same in every run."""
    return [
        key for key in override_keys(runs) if len({effective_value(run, key) for run in runs}) > 1
    ]


def common_overrides(runs: Sequence[Run]) -> list[str]:
    """``key=value`` for override keys every run shares with the same value."""
    differing = set(differing_keys(runs))
    return (
        [
            f"{key}={effective_value(runs[0], key)}"
            for key in override_keys(runs)
            if key not in differing
        ]
        if runs
        else []
    )


def _seed(run: Run) -> int | None:
    trainer = run.config.get("trainer")
    seed = trainer.get("seed") if isinstance(trainer, dict) else None
    return int(seed) if isinstance(seed, int | float) else None


def assign_labels(runs: Sequence[Run]) -> list[str]:
    """Set ``run.label`` and ``run.seed`` for every run; return the label keys.

    With nothing differing (one run, or seeds only) the label is the config's ``name``.
    """
    keys = [key for key in differing_keys(runs) if key not in SEED_KEYS]
    for run in runs:
        run.seed = _seed(run)
        label = run_label((key, effective_value(run, key)) for key in keys)
        run.label = label or str(run.config.get("name") or run.path.name)
    return keys


def group_runs(runs: Sequence[Run]) -> list[list[Run]]:
    """Table rows: finished runs sharing a label form one row (seeds); others stand alone.

    A failed or unfinished run gets its own row, so it is listed rather than silently averaged
    away or dropped. Rows keep the order in which their first run appears.
    """
    rows: dict[tuple[str, str | int], list[Run]] = {}
    for index, run in enumerate(runs):
        key: tuple[str, str | int] = (run.label, "finished" if run.status == "finished" else index)
        rows.setdefault(key, []).append(run)
    return list(rows.values())


def display_name(run: Run, runs: Sequence[Run]) -> str:
    """The label, plus the seed when other runs share the label (for plot legends)."""
    shared = sum(other.label == run.label for other in runs) > 1
    name = f"{run.label} (seed={run.seed})" if shared and run.seed is not None else run.label
    if shared and run.seed is None:
        name = f"{run.label} ({run.path.name})"
    return name if run.status == "finished" else f"{name} [{run.status}]"
