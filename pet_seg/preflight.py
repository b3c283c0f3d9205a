"""What a composed config must satisfy before a run creates anything, checked as early as it can be.

A model's input size is known once Hydra has composed the config, so ``PreflightCallback``
checks it before Hydra creates the run (or sweep) folder, for every job of a basic sweep; the
job checks it again (a direct ``run()`` call, or another sweeper). The device is known only
inside the job, which checks the precision against it before it reads data or starts W&B.

Each model class says what it can take (``fits_input`` and ``input_size_rule``), so nothing here
knows model names; a model without them is not checked.
"""

from __future__ import annotations

import sys
from functools import partial
from itertools import count
from typing import Any

import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from hydra.utils import get_class
from omegaconf import DictConfig

from pet_seg.precision import precision_problem
from pet_seg.run_label import label_of, varying_keys
from pet_seg.sweep_jobs import known_jobs
from pet_seg.usage import UsageError


class ConfigError(UsageError, CompactHydraException):
    """A config that cannot run; Hydra prints its one-sentence message without a traceback."""


def input_size_problem(model_target: str, size: int) -> str | None:
    """Why ``data.image_size=size`` cannot go through the model, naming sizes that can."""
    model = get_class(model_target)
    fits = getattr(model, "fits_input", None)
    if fits is None or fits(size):
        return None
    name, rule = model.__name__, getattr(model, "input_size_rule", "another size")
    above = next(s for s in count(size) if fits(s))
    below = next((s for s in range(size, 0, -1) if fits(s)), None)
    if below is None:
        return (
            f"data.image_size={size} is too small for {name}, which needs {rule}; the smallest "
            f"size that works is data.image_size={above}"
        )
    return (
        f"data.image_size={size} does not fit {name}, which needs {rule}; use "
        f"data.image_size={below} or {above}"
    )


def check_model_input(cfg: DictConfig) -> None:
    """Stop on an image size the configured model cannot take."""
    problem = input_size_problem(str(cfg.model._target_), int(cfg.data.image_size))
    if problem:
        raise ConfigError(problem)


def check_precision(device: torch.device, precision: str) -> None:
    """Stop on a precision the resolved device cannot train in."""
    problem = precision_problem(device, precision)
    if problem:
        raise ConfigError(problem)


class PreflightCallback(Callback):
    """Checks the run's config, or every job of a basic sweep, before any folder is made.

    Hydra turns an exception raised in a callback into a warning and carries on, so a config
    that cannot run ends the process here (``SystemExit``: the message, no traceback, exit 1).
    Register it first in ``hydra.callbacks``: a callback before it would already have acted.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_model_input(config)
        except ConfigError as err:
            sys.exit(f"pet_seg.run: error: {err}")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = known_jobs(config)
        if jobs is None:
            return  # other sweepers choose their jobs as they go: each job checks itself
        compose = partial(GlobalHydra.instance().config_loader().load_sweep_config, config)
        keys = varying_keys(jobs)
        for job in jobs:
            try:
                check_model_input(compose(job))
            except ConfigError as err:
                sys.exit(f"pet_seg.run: error: job {label_of(job, keys) or ' '.join(job)}: {err}")
