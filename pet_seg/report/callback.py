"""Hydra callback: every sweep (and single run) of an experiment ends with its report.

Why more than ``on_multirun_end``: in Hydra 1.3 the basic sweeper, after a batch of jobs, reads
each job's return value, which re-raises a failed job's exception, so ``on_multirun_end`` is
never called for a sweep with a failed job (nor after Ctrl-C). ``on_multirun_start`` therefore
also registers an exit hook that writes the report when the process ends without
``on_multirun_end`` having run; Hydra ends a failed sweep with ``sys.exit(1)``, so the hook runs
after every job, whatever the launcher, and the report lists the failed job. ``on_job_end``
records a failure the run itself could not write down (``job_status.json``). The base config
registers it, so every multirun (experiment or ad hoc) and every single run reports::

    hydra:
      callbacks:
        report:
          _target_: pet_seg.report.callback.ReportCallback

After a sweep's report, the sweep's ``logger`` also logs it as one W&B run of ``job_type``
``report`` in the sweep's group (offline like the training runs; none with ``logger=none``), and
when that run is online, a saved W&B Report over the group (``pet_seg.report.publish.workspace``).
``python -m pet_seg.report <sweep>`` rebuilds the same report by hand at any time
(``--wandb-report`` for the saved W&B Report).
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig

from pet_seg.report.build import Report, write_report
from pet_seg.report.publish.wandb_run import report_to_wandb
from pet_seg.run_folder import RunFolder, write_json_atomic

log = logging.getLogger(__name__)


def record_failure(job_dir: Path, error: BaseException) -> None:
    """Leave ``job_status.json`` where the run itself could not say it failed.

    ``pet_seg.run`` writes ``summary.json`` with status ``failed`` only once training has
    started; a job that dies earlier (bad data root, bad config value) would otherwise look
    merely unfinished in the report.
    """
    folder = RunFolder(job_dir)
    if folder.read_summary().get("status") in ("failed", "finished"):
        return
    payload = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    write_json_atomic(folder.job_status, payload)


class ReportCallback(Callback):
    """Writes ``<sweep>/report/`` after a multirun, or ``<run>/report/`` after a single run."""

    def __init__(self, samples: int = 4) -> None:
        self.samples = samples
        self.pending: Path | None = None  # a sweep whose report is still owed
        self.config: DictConfig | None = None  # the sweep's config, for its logger and group

    def _write(self, folder: Path) -> Report | None:
        """Build the report; a problem becomes a log line, never a failed sweep."""
        try:
            report = write_report([folder], samples=self.samples)
        except Exception as err:  # the runs are done: a report bug must not hide them
            log.warning("pet_seg report for %s failed: %s: %s", folder, type(err).__name__, err)
            return None
        print(f"[pet_seg] report: {report.markdown}\n{report.table}", flush=True)
        return report

    def _report_sweep(self, folder: Path) -> None:
        """The sweep's report, then the same in W&B (a failure there is only logged)."""
        report = self._write(folder)
        if report is None or self.config is None:
            return
        try:
            to_wandb(report, self.config)
        except Exception as err:
            log.warning("pet_seg W&B report run failed: %s: %s", type(err).__name__, err)

    def write_pending(self) -> None:
        """The exit hook: report a sweep that ended without ``on_multirun_end``."""
        folder, self.pending = self.pending, None
        if folder is None or not folder.is_dir():
            return
        print(f"[pet_seg] sweep ended early or with failed jobs; reporting {folder}", flush=True)
        # W&B cannot start a run while this interpreter exits: a fresh process writes the
        # report and its W&B run, as ``python -m pet_seg.report <sweep> --wandb-run`` would.
        command = [sys.executable, "-m", "pet_seg.report", str(folder)]
        command += ["--samples", str(self.samples), "--wandb-run"]
        if subprocess.run(command, check=False).returncode != 0:
            self._write(folder)  # at least the local report

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.pending = Path(config.hydra.sweep.dir).absolute()
        self.config = config
        atexit.register(self.write_pending)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.FAILED:
            job_dir = Path(job_return.hydra_cfg.hydra.runtime.output_dir)
            # ``return_value`` would re-raise; the stored exception is what we record.
            record_failure(job_dir, job_return._return_value)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.pending = None
        self.config = config
        self._report_sweep(Path(config.hydra.sweep.dir))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Single runs too (Hydra calls this even when the run failed); under torchrun only
        rank 0, the rank that wrote the run's files."""
        job_return: JobReturn | None = kwargs.get("job_return")
        if os.environ.get("RANK", "0") != "0":
            return
        if job_return is not None and job_return.hydra_cfg is not None:
            self._write(Path(job_return.hydra_cfg.hydra.runtime.output_dir))


def sweep_group(config: DictConfig) -> str:
    """The W&B group the sweep's jobs used (``pet_seg.run.wandb_group`` in a multirun)."""
    logger = config.get("logger") or {}
    return logger.get("group") or f"{config.name}-{Path(config.hydra.sweep.dir).name}"


def to_wandb(report: Report, config: DictConfig) -> None:
    """Log the report run through the sweep's ``logger``; online, also save the W&B Report."""
    if config.get("logger") is not None:
        start = instantiate(config.logger)
        report_to_wandb(report, start, name=config.name, group=sweep_group(config))
