"""A sweep's jobs before any of them runs, as Hydra's basic sweeper will launch them.

The plan (each job's cost), the preflight check (each job's image size) and the sweep's
progress lines (job i of n) all need the list; only the basic sweeper knows it in advance (an
Optuna search decides its trials as it goes), so the others get None.
"""

from __future__ import annotations

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """Every job's overrides, as Hydra's basic sweeper expands ``params`` + the command line."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(config.hydra.overrides.task)
    parsed = OverridesParser.create().parse_overrides(arguments)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def known_jobs(config: DictConfig) -> list[list[str]] | None:
    """``sweep_jobs`` for the basic sweeper; None for a sweeper that picks jobs as it goes."""
    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    return sweep_jobs(config)
