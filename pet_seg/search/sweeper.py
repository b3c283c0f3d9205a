"""An Optuna search behind Hydra's Sweeper interface, its study in a database.

``hydra/sweeper=optuna`` (``conf/hydra/sweeper/optuna.yaml``, used by ``experiment=search``)
asks the study for trials ``hydra.sweeper.n_jobs`` at a time, launches each batch through
whatever Hydra launcher is configured (basic, joblib, submitit) and tells the study what each
job returned, as hydra-optuna-sweeper does, with the same search-space syntax in
``hydra.sweeper.params`` (``interval``, ``tag(log, interval(...))``, ``range``, ``choice``).

Why our own sweeper rather than hydra-optuna-sweeper: its last release (1.2.0/1.3.0) pins
optuna < 3, and optuna 2.10 cannot open SQLAlchemy 2 URLs, so its storage works only with
SQLAlchemy < 2 pinned under the whole environment (and alembic, and every other package that
wants SQLAlchemy 2), frozen at an optuna that gets no fixes. Beyond storage, the plugin counts
``n_trials`` per process (two processes on one study run 2 × n_trials), numbers job folders
per process (two processes on one sweep folder overwrite each other's ``0/``), leaves an
interrupted trial RUNNING forever, and has no way for a trial to report per-epoch values for
pruning. Fixing those meant owning code anyway; this is ~300 lines over optuna's public
ask/tell API (optuna >= 4), which keeps up with optuna's samplers, pruners, storages and plots.

What a study keeps (the storage, ``hydra.sweeper.storage``; default
``sqlite:///<sweep dir>/optuna.db``):

* **Resume.** Rerunning the same command (same storage and study name) loads the study and
  runs trials until the study holds ``n_trials`` of them: finished, pruned and failed trials
  count; trials of a run that was interrupted do not. Ctrl-C marks the batch's trials FAIL and
  enqueues each again with the same parameters; a killed sweeper (SIGKILL, preempted SLURM
  job) stops their heartbeat, and whichever process next looks at the study after
  ``grace_period`` seconds does the same (at most ``max_retry`` retries per trial). A sweeper
  that finds the study full but some trials still RUNNING waits for them: they finish (another
  process's) or go stale and are retried (a dead one's).
* **Sharing.** Any number of processes (SLURM array tasks, several machines on PostgreSQL)
  given the same storage and study name share it: each asks the database for its next trial,
  the database numbers trials, and job folders are named by trial number, so processes on one
  sweep folder never collide. ``n_trials`` is the study's total: a trial asked when the study
  already holds ``n_trials`` below its number (two processes asked at once) is marked failed
  with ``user_attrs.surplus`` and never run.
* **Pruning.** Every job gets ``+search.storage=... +search.study=... +search.trial=N``; the
  run reports its validation Dice after every epoch and stops when the study's pruner
  (``hydra.sweeper.pruner``, stored in the study for its trials) says so, telling the study
  PRUNED itself (``pet_seg.search.pruning``).
* The same search only: the study remembers the command's overrides and refuses a command
  whose overrides differ (a different model, data, epochs), which would mix two searches.

After the last trial: ``optimization_results.yaml`` (best parameters, value, trial counts and
the best run's command line), ``search.md`` and the study's plots in ``<sweep dir>/optuna/``
(``pet_seg.search.results``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pet_seg.search.space import search_space, suggest
from pet_seg.search.storage import STUDY_ATTR, default_url, open_storage

log = logging.getLogger(__name__)


def quoted(value: str) -> str:
    """A Hydra override value that parses back to ``value`` whatever it holds (``:``, ``@``)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---------------------------------------------------------------------------- study upkeep
def retry_later(max_retry: int):
    """A callback that enqueues a dead trial again with its parameters, ``max_retry`` times."""

    def retry(study: Any, trial: Any) -> None:
        retries = int(trial.user_attrs.get("retries", 0))
        if retries >= max_retry or not trial.params:
            log.warning(f"trial {trial.number} died and is not retried (retries: {retries})")
            return
        log.warning(f"trial {trial.number} died; enqueued again with its parameters")
        study.enqueue_trial(
            trial.params, user_attrs={"retry_of": trial.number, "retries": retries + 1}
        )

    return retry


def counted(trials: Sequence[Any]) -> list[Any]:
    """The trials ``n_trials`` counts: all but queued ones, dead ones that were retried, and
    surplus ones (asked by two processes at once past ``n_trials``, never run)."""
    from optuna.trial import TrialState

    retried = {t.user_attrs.get("retry_of") for t in trials}
    return [
        t
        for t in trials
        if t.state != TrialState.WAITING
        and not t.user_attrs.get("surplus")
        and not (t.state == TrialState.FAIL and t.number in retried)
    ]


@contextmanager
def heartbeat(storage: Any, trial_ids: Sequence[int], interval: int | None) -> Iterator[None]:
    """Record the trials' heartbeat every ``interval`` s while the block runs (their jobs)."""
    if not interval or not trial_ids:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            for trial_id in trial_ids:
                try:
                    storage.record_heartbeat(trial_id)
                except Exception as err:  # a database hiccup must not kill the search
                    log.warning(f"heartbeat failed: {err}")
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def consecutive(trials: Sequence[Any]) -> list[list[Any]]:
    """Split a batch into runs of consecutive trial numbers (one launch each: job folders are
    named ``initial_job_idx + i``, and another process may hold the numbers in between)."""
    groups: list[list[Any]] = []
    for trial in trials:
        if groups and trial.number == groups[-1][-1].number + 1:
            groups[-1].append(trial)
        else:
            groups.append([trial])
    return groups


# ---------------------------------------------------------------------------- the sweeper
class OptunaSweeper(Sweeper):
    """Hydra builds it from ``hydra.sweeper`` (keys below), then calls ``setup`` and ``sweep``."""

    def __init__(
        self,
        direction: str = "maximize",
        study_name: str | None = None,
        storage: str | None = None,
        n_trials: int = 20,
        n_jobs: int = 1,
        max_failure_rate: float = 0.0,
        sampler: Any = None,
        pruner: Any = None,
        params: Any = None,
        heartbeat_interval: int | None = 60,
        grace_period: int | None = 180,
        max_retry: int = 1,
        plots: bool = True,
    ) -> None:
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"hydra.sweeper.direction: maximize or minimize, not {direction!r}")
        if not 0.0 <= max_failure_rate <= 1.0:
            raise ValueError("hydra.sweeper.max_failure_rate must lie in [0, 1]")
        self.direction = direction
        self.study_name = study_name
        self.storage_url = storage
        self.n_trials = int(n_trials)
        self.n_jobs = max(1, int(n_jobs))
        self.max_failure_rate = max_failure_rate
        self.sampler_cfg = sampler
        self.pruner_cfg = pruner
        self.params = params
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period or 2 * (heartbeat_interval or 60)
        self.max_retry = int(max_retry)
        self.plots = plots
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    # -- pieces
    def _sampler(self, seed_offset: int) -> Any:
        """A fresh sampler per trial, seeded ``sampler.seed + trial number``: reproducible in
        one process, and two processes sharing a study never draw the same first trials."""
        if self.sampler_cfg is None:
            return None
        cfg = OmegaConf.to_container(self.sampler_cfg, resolve=True)
        if cfg.get("seed") is not None:
            cfg["seed"] = int(cfg["seed"]) + seed_offset
        return instantiate(cfg)

    def open_study(self, sweep_dir: Path, arguments: Sequence[str]) -> Any:
        import optuna

        url = self.storage_url or default_url(sweep_dir)
        self.url = url
        storage = open_storage(
            url,
            heartbeat_interval=self.heartbeat_interval,
            grace_period=self.grace_period,
            retry=retry_later(self.max_retry),
        )
        study = optuna.create_study(
            study_name=self.study_name,
            storage=storage,
            direction=self.direction,
            load_if_exists=True,
            sampler=self._sampler(0),
        )
        search = {
            "overrides": sorted(arguments),
            "params": {str(k): str(v) for k, v in (self.params or {}).items()},
        }
        before = study.user_attrs.get(STUDY_ATTR)
        if before and {k: before.get(k) for k in search} != search:
            raise ValueError(
                f"study {study.study_name!r} in {url} was started by another search "
                f"(overrides {before.get('overrides')}, params {before.get('params')}); this "
                f"command has {search['overrides']}, {search['params']}. Give this search its "
                "own hydra.sweeper.study_name (or hydra.sweep.dir for the default SQLite file)."
            )
        pruner = self.pruner_cfg
        pruner = OmegaConf.to_container(pruner, resolve=True) if pruner is not None else None
        study.set_user_attr(STUDY_ATTR, {**search, "pruner": pruner})
        return study

    def _ask(self, study: Any, space: Mapping[str, Any]) -> Any | None:
        """The next trial with its parameters drawn, or ``None`` when the study already holds
        ``n_trials`` trials numbered below it (another process asked in between)."""
        from optuna.trial import TrialState

        with warnings.catch_warnings():
            # optuna warns that heartbeats are meant for Study.optimize; we beat them ourselves
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = study.ask()
        before = [t for t in counted(study.get_trials(deepcopy=False)) if t.number < trial.number]
        if len(before) >= self.n_trials:
            trial.set_user_attr("surplus", True)
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            return None
        study.sampler = self._sampler(trial.number)
        for name, distribution in space.items():
            suggest(trial, name, distribution)
        return trial

    def _overrides(self, trial: Any, fixed: Mapping[str, str], study_name: str) -> list[str]:
        params = {**{k: str(v) for k, v in trial.params.items()}, **fixed}
        return [f"{k}={v}" for k, v in params.items()] + [
            f"+search.storage={quoted(self.url)}",
            f"+search.study={quoted(study_name)}",
            f"+search.trial={trial.number}",
        ]

    def _launch(self, trials: Sequence[Any], fixed: Mapping[str, str], name: str) -> list[Any]:
        returns: list[Any] = []
        for group in consecutive(trials):
            overrides = [self._overrides(t, fixed, name) for t in group]
            self.validate_batch_is_legal(overrides)
            returns += self.launcher.launch(overrides, initial_job_idx=group[0].number)
        return returns

    def _tell(self, study: Any, trial: Any, job_return: Any) -> Exception | None:
        """Tell the study what the job returned, unless the job already told it (pruned)."""
        from optuna.trial import TrialState

        if study._storage.get_trial(trial._trial_id).state.is_finished():
            return None  # pruned by the job itself, or failed as stale by another process
        try:
            value = float(job_return.return_value)  # re-raises the job's exception
            if math.isnan(value):
                raise ValueError("the job returned NaN")
        except Exception as err:
            log.warning(f"trial {trial.number} failed: {type(err).__name__}: {err}")
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            return err
        study.tell(trial, value, skip_if_finished=True)
        return None

    # -- the loop
    def sweep(self, arguments: list[str]) -> None:
        from optuna.storages import fail_stale_trials
        from optuna.trial import TrialState

        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        space, fixed = search_space(self.params, arguments)
        study = self.open_study(sweep_dir, arguments)
        log.info(f"Study {study.study_name!r} in {self.url}; {self.n_trials} trials in all")
        storage = study._storage
        while True:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fail_stale_trials is "experimental"
                fail_stale_trials(study)
            done = counted(study.get_trials(deepcopy=False))
            left = self.n_trials - len(done)
            running = [t.number for t in done if t.state == TrialState.RUNNING]
            if left <= 0 and running and self.heartbeat_interval:
                # other processes' trials, or dead ones that will go stale and be retried here
                log.info(f"waiting for running trials {running}")
                time.sleep(min(self.heartbeat_interval, 10))
                continue
            if left <= 0:
                break
            asked = [self._ask(study, space) for _ in range(min(self.n_jobs, left))]
            trials = [t for t in asked if t is not None]
            if not trials:
                continue
            ids = [t._trial_id for t in trials]
            try:
                with heartbeat(storage, ids, self.heartbeat_interval):
                    returns = self._launch(trials, fixed, study.study_name)
            except BaseException:  # Ctrl-C, a launcher error: these trials run again next time
                for trial in trials:
                    frozen = storage.get_trial(trial._trial_id)
                    if not frozen.state.is_finished():
                        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                        retry_later(self.max_retry)(study, storage.get_trial(trial._trial_id))
                raise
            failures = [
                e for t, r in zip(trials, returns, strict=True) if (e := self._tell(study, t, r))
            ]
            if len(failures) / len(returns) > self.max_failure_rate:
                raise RuntimeError(
                    f"{len(failures)} of {len(returns)} trials failed "
                    f"(hydra.sweeper.max_failure_rate={self.max_failure_rate})"
                ) from failures[0]

        from pet_seg.search.results import write_results

        write_results(
            study,
            sweep_dir,
            arguments=arguments,
            fixed=fixed,
            storage_url=self.url,
            plots=self.plots,
        )
