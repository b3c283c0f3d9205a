"""Where a sweep's runs are in W&B: project, entity and group, found in the sweep folder.

Shared by the report run (``wandb_run``) and the saved W&B Report (``workspace``), so the two
agree on the group, and neither imports the other to learn it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pet_seg.report.runs.folder import Run

# Written next to report.md: where the report run went, and the group the report command's
# --wandb-report filters on.
RUN_FILE = "wandb_run.json"


@dataclass(frozen=True)
class Target:
    """Where the sweep's runs are in W&B."""

    project: str
    entity: str | None
    group: str


def runs_group(run: Run) -> str:
    """The W&B group a sweep job used: ``logger.group``, else ``<name>-<sweep folder>``
    (``pet_seg.run.wandb_group``), read from the job's saved config."""
    logger = run.config.get("logger") or {}
    return logger.get("group") or f"{run.config.get('name', 'default')}-{run.path.parent.name}"


def find_target(report_dir: Path, runs: Sequence[Run]) -> Target:
    """Project, entity and group of the sweep: from the report run if there was one, else
    from the runs' saved config (``name``-``<sweep folder>``, as ``pet_seg.run.wandb_group``)."""
    recorded = report_dir / RUN_FILE
    if recorded.is_file():
        info = json.loads(recorded.read_text())
        return Target(info["project"], info.get("entity") or None, info["group"])
    run = runs[0]
    logger = run.config.get("logger") or {}
    return Target(logger.get("project") or "pet_seg", logger.get("entity"), runs_group(run))
